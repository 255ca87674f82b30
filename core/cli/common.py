"""What every `crowdnest` command shares: the settings, a database session, the one-line error."""

import os
import sys
import time

from pyramid.paster import get_appsettings
from sqlalchemy.engine import make_url

from core.settings import load_settings


class CommandError(Exception):
    """A user mistake or an unusable setup: printed as one line, exit code 1."""


def read_settings(config_path: str) -> dict:
    """The app settings of an .ini, with defaults and CROWDNEST_* overrides applied."""
    if not os.path.isfile(config_path):
        raise CommandError(f"config file {config_path!r} not found (choose one with -c/--config)")
    here = os.path.dirname(os.path.abspath(config_path))
    return load_settings(get_appsettings(config_path), here=here)


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Progress:
    """A progress line on stderr: rewritten in place on a terminal (at most 5 times a second),
    else a new line every 5 seconds, and always the last one."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.shown_at = 0.0

    def due(self, final: bool) -> bool:
        """Whether a line is due now (a final one always is)."""
        now = time.monotonic()
        if not final and now - self.shown_at < (0.2 if self.live else 5.0):
            return False
        self.shown_at = now
        return True

    def show(self, line: str) -> None:
        self.stream.write(f"\r{line}" if self.live else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
