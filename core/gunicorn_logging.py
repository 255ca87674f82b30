"""gunicorn's logger, minus the access-log line nobody reads.

With `gunicorn --paste production.ini` the .ini's [loggers] configure logging, and gunicorn then
formats an access-log line for every request, although the `gunicorn.access` logger has no
handler to take it (it does not propagate): about 7 % of a worker's CPU on a newtask. This
logger formats the line only when the logger would emit it: `--access-logfile`, or a
`[logger_gunicorn.access]` with a handler at level INFO, bring access logs back.

gunicorn reads it from `gunicorn.conf.py` (its default configuration file, in the directory it
is started from), and `pserve production.ini` from `[server:main]`. Credentials in URLs
(`?api_key=`, a mailed link's `key=`) are masked in every line (core.security.redact_url).
"""

import logging

from gunicorn.glogging import Logger

from core.security import redact_url


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        log = self.access_log
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            super().access(resp, req, environ, request_time)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The request line, query string, referer and environ atoms all may carry the api key.
        for name, value in atoms.items():
            if isinstance(value, str) and "=" in value:
                atoms[name] = redact_url(value)
        atoms.pop("{authorization}i", None)
        return atoms
