"""The `crowdnest` command: database, users, plugins, the contributions guard, imports,
exports and the job worker."""

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from core import jobs
from core.cli import admin, autoimport, exports, imports
from core.cli.common import CommandError, read_settings
from core.plugins import PluginError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crowdnest", description=__doc__)
    parser.add_argument(
        "-c", "--config", default="development.ini", help="the .ini (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin.add_parser(commands)
    exports.add_parser(commands)
    imports.add_parser(commands)
    autoimport.add_parser(commands)
    jobs.add_worker_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes print `crowdnest: error: ...` and return 1."""
    args = build_parser().parse_args(argv)
    try:
        settings = read_settings(args.config)
        return args.run(settings, args)
    except (CommandError, PluginError) as error:
        print(f"crowdnest: error: {error}", file=sys.stderr)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(f"crowdnest: database error: {reason}", file=sys.stderr)
        print("(is the database reachable, and has `crowdnest db upgrade` run?)", file=sys.stderr)
    except (KeyboardInterrupt, EOFError):
        print("\ncrowdnest: interrupted", file=sys.stderr)
    return 1
