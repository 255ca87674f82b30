"""gunicorn's logger, minus the access-log line nobody reads.

With `gunicorn --paste production.ini` the .ini's [loggers] configure logging, and gunicorn then
formats an access-log line for every request, although the `gunicorn.access` logger has no
handler to take it (it does not propagate): about 7 % of a worker's CPU on a newtask. This
logger formats the line only when the logger would emit it: `--access-logfile`, or a
`[logger_gunicorn.access]` with a handler at level INFO, bring access logs back.

gunicorn reads it from `gunicorn.conf.py` (its default configuration file, in the directory it
is started from), and `pserve production.ini` from `[server:main]`.
"""

import logging

from gunicorn.glogging import Logger


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        log = self.access_log
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            super().access(resp, req, environ, request_time)
