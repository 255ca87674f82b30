"""core.gunicorn_logging: access-log lines are formatted only for a logger that emits them."""

import configparser
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from core.gunicorn_logging import AccessLogger

ROOT = str(Path(__file__).resolve().parents[3])


@pytest.fixture
def logger(monkeypatch):
    config = Config()
    config.set("accesslog", "-")  # gunicorn itself would format every request's line
    found = AccessLogger(config)
    formatted = []
    original = found.atoms

    def atoms(*args):
        formatted.append(args)
        return original(*args)

    monkeypatch.setattr(found, "atoms", atoms)
    found.formatted = formatted
    yield found
    found.access_log.setLevel(logging.NOTSET)


def _request():
    response = SimpleNamespace(status="200 OK", sent=9, headers=[])
    request = SimpleNamespace(headers=[], method="GET", path="/api/project/1/newtask", query="")
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/project/1/newtask",
    }
    return response, request, environ


def test_no_line_is_formatted_when_the_access_logger_is_quiet(logger):
    logger.access_log.setLevel(logging.WARNING)
    logger.access(*_request(), request_time=SimpleNamespace(seconds=0, microseconds=1000))
    assert logger.formatted == []


@pytest.mark.parametrize("kind", [Logger, AccessLogger])
def test_no_line_is_formatted_for_an_access_logger_without_handlers(kind):
    """`gunicorn --paste production.ini`: a logging config (which turns gunicorn's access log
    on; here set as it does, leaving this process's logging alone), no access-log file, so the
    gunicorn.access logger is at INFO with no handler. gunicorn's own logger formats the line
    all the same (the control: it fails if gunicorn changes how it decides); ours does not."""
    found = kind(Config())
    found._access_log_enabled = True
    formatted = []
    found.atoms = lambda *args: formatted.append(args) or {}
    assert found.access_log.isEnabledFor(logging.INFO)
    assert not found.access_log.hasHandlers()
    found.access(*_request(), request_time=SimpleNamespace(seconds=0, microseconds=1000))
    assert len(formatted) == (1 if kind is Logger else 0)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_an_access_logger_at_info_gets_its_lines(logger):
    logger.access_log.setLevel(logging.INFO)
    lines = Lines()
    logger.access_log.addHandler(lines)
    try:
        logger.access(*_request(), request_time=SimpleNamespace(seconds=0, microseconds=1000))
    finally:
        logger.access_log.removeHandler(lines)
    assert len(logger.formatted) == 1
    assert any("/api/project/1/newtask" in line for line in lines.lines)


def test_gunicorn_and_pserve_serve_alike():
    """`gunicorn --paste` reads gunicorn.conf.py, `pserve` the .ini's [server:main]."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(ROOT, "production.ini"))
    server = parser["server:main"]
    namespace = {}
    with open(os.path.join(ROOT, "gunicorn.conf.py")) as source:
        exec(compile(source.read(), "gunicorn.conf.py", "exec"), namespace)
    assert server["logger_class"] == namespace["logger_class"]
    assert server["bind"] == namespace["bind"]
    assert int(server["workers"]) == namespace["workers"]
    assert server.getboolean("preload_app") is namespace["preload_app"] is True
    config = Config()
    config.set("logger_class", namespace["logger_class"])
    assert config.logger_class is AccessLogger
