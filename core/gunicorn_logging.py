"""gunicorn's logger, minus the access-log line nobody reads.

With `gunicorn --paste production.ini` the .ini's [loggers] configure logging, and gunicorn then
formats an access-log line for every request, even when no handler takes the `gunicorn.access`
logger's INFO records (production.ini's root logger is at WARN): about 7 % of a worker's CPU
on a newtask. This logger formats the line only when the `gunicorn.access` logger would emit
it: give `[logger_gunicorn.access]` `level = INFO` (and a handler) to have access logs.
"""

import logging

from gunicorn.glogging import Logger


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
