"""What every `crowdnest` command shares: the settings, a database session, the one-line error."""

import os

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
