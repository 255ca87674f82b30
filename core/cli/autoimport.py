"""`crowdnest autoimport`: run every project's autoimporter once (for cron), or --loop forever.

Each project's outcome is printed on a line of its own; the exit code is 1 when any project's
import failed (cron then mails the output), 0 otherwise. With --loop the command runs again
every `autoimporter.interval` seconds until it is stopped, and always keeps going.
"""

import logging
import sys
import time

from core.cli.common import CommandError
from core.plugins import get_plugin_manager
from core.services import pro
from core.services.autoimport import FEATURE, AutoimportOutcome, run_autoimports

log = logging.getLogger(__name__)


def describe(outcome: AutoimportOutcome) -> str:
    if outcome.error:
        return f"{outcome.short_name}: failed: {outcome.error}"
    return f"{outcome.short_name}: {outcome.created} new task(s), {outcome.skipped} skipped"


def run_once(settings: dict, stream=None) -> bool:
    """One run over every project; True when none failed."""
    stream = stream or sys.stdout
    if not pro.switched_on(settings, FEATURE):
        print("autoimport: the autoimporter is switched off (plugins.pro)", file=stream)
        return True
    outcomes = run_autoimports(settings)
    for outcome in outcomes:
        print(describe(outcome), file=stream)
    print(f"autoimport: {len(outcomes)} project(s) run", file=stream)
    stream.flush()
    return not any(outcome.error for outcome in outcomes)


def autoimport_command(settings: dict, args) -> int:
    if not args.loop or not pro.switched_on(settings, FEATURE):
        return 0 if run_once(settings) else 1
    # The enabled plugins' settings: autoimporter.interval is the autoimporter's.
    get_plugin_manager(settings)
    interval = settings["autoimporter.interval"]
    if interval < 1:
        raise CommandError("autoimporter.interval must be at least 1 second")
    while True:
        started = time.monotonic()
        try:
            run_once(settings)
        except Exception:
            # A run that could not even start (the database is down): try again next time.
            log.exception("autoimport run failed")
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def add_parser(commands) -> None:
    """Register `crowdnest autoimport` on the command's sub-parsers."""
    command = commands.add_parser(
        "autoimport", help="import new items for every project with an autoimporter"
    )
    command.add_argument(
        "--loop",
        action="store_true",
        help="run again every autoimporter.interval seconds until stopped (instead of cron)",
    )
    command.set_defaults(run=autoimport_command)
