"""gunicorn's settings for `gunicorn --paste production.ini`, started from this directory.

gunicorn reads this file (its default configuration file) but not the .ini's [server:main],
which only `pserve production.ini` reads: the two say the same (tests/unit/test_gunicorn_logging).
Command-line options (`-w`, `-b`) override these.
"""

bind = "127.0.0.1:6543"
workers = 4
# Access-log lines only when a handler takes them (core/gunicorn_logging.py).
logger_class = "core.gunicorn_logging.AccessLogger"
