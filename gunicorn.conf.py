"""gunicorn's settings for `gunicorn --paste production.ini` started here (its default file)."""

# Access-log lines only when a handler takes them (core/gunicorn_logging.py).
logger_class = "core.gunicorn_logging.AccessLogger"
