"""/healthz and /readyz (core.health): probes for load balancers."""

from sqlalchemy import text

from core.health import readiness, schema_head


def test_liveness_answers_without_touching_anything(app, monkeypatch):
    engine = app.app.registry["db_engine"]
    monkeypatch.setattr(engine, "connect", lambda: (_ for _ in ()).throw(AssertionError("I/O")))

    found = app.get("/healthz")

    assert found.json == {"status": "ok"}
    assert found.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in found.headers


def test_readiness_checks_the_database_the_schema_and_redis(app):
    found = app.get("/readyz")

    assert found.status_int == 200
    assert found.json == {
        "status": "ok",
        "checks": {"database": "ok", "schema": "ok", "redis": "not configured"},
    }
    assert found.headers["Cache-Control"] == "no-store"
    assert app.head("/readyz").body == b""


def test_an_unreachable_redis_makes_the_process_unready(make_app):
    # Nothing listens on port 1: the client's short timeout answers at once.
    app = make_app(redis__url="redis://127.0.0.1:1/0")

    found = app.get("/readyz", status=503)

    assert found.json["status"] == "unavailable"
    assert found.json["checks"]["redis"].startswith("unreachable")
    assert found.json["checks"]["database"] == "ok"


def test_a_database_behind_the_migrations_makes_the_process_unready(app, db):
    engine = app.app.registry["db_engine"]
    head = schema_head(app.app.registry.settings["sqlalchemy.url"])
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        found = app.get("/readyz", status=503)
        assert found.json["checks"]["schema"] == f"at ['0001'], head is {head}"
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert app.get("/readyz").json["checks"]["schema"] == "ok"


def test_an_unreachable_database_is_named(app, monkeypatch):
    engine = app.app.registry["db_engine"]

    def refused():
        raise ConnectionRefusedError("no database")

    monkeypatch.setattr(engine, "connect", refused)
    checks = readiness(engine, None, "head")

    assert checks["database"] == "unreachable: ConnectionRefusedError"
    assert app.get("/readyz", status=503).json["checks"]["schema"] == "unknown"


def test_probes_are_never_rate_limited(make_app):
    app = make_app(**{"ratelimit.limit": "2"})

    statuses = {app.get(path).status_int for path in ("/healthz", "/readyz") for _ in range(5)}
    limited = [app.get("/api/project", expect_errors=True).status_int for _ in range(3)]

    assert statuses == {200}
    assert limited[-1] == 429  # the API is limited for the same caller
