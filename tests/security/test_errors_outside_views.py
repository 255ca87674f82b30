"""Failures before any view runs are answered by the error views too (decision 14)."""

from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from core import security


def _lost_connection(*args, **kwargs):
    raise OperationalError(
        "SELECT", {}, Exception("server closed the connection"), connection_invalidated=True
    )


def test_a_lost_database_while_finding_the_caller_is_a_503_in_the_api_shape(app, monkeypatch):
    # Finding the caller reads the database: pyramid_tm did it before the error views.
    monkeypatch.setattr(security, "api_key_of", _lost_connection)

    response = app.get("/api/project?api_key=x", status=503)

    assert response.json["exception_cls"] == "ServiceUnavailable"
    assert response.headers["Retry-After"]


def test_a_lost_database_while_finding_the_caller_of_a_page_is_a_503_page(app, monkeypatch):
    monkeypatch.setattr(security, "api_key_of", _lost_connection)

    response = app.get("/account/profile", status=503)

    assert "503" in response.text


def _refused_connection(*args, **kwargs):
    # What the pool raises while a restarting server refuses new connections.
    create_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none").connect()


def test_a_database_refusing_connections_is_a_503_in_the_api_shape(app, monkeypatch):
    monkeypatch.setattr(security, "api_key_of", _refused_connection)

    response = app.get("/api/project?api_key=x", status=503)

    assert response.json["exception_cls"] == "ServiceUnavailable"
