"""Core never names a scheduler: what a scheduler adds is declared in core.hookspecs
(Scheduler.answers, LeanForm) and reached through the enabled schedulers."""

import re
from pathlib import Path

import core

CORE = Path(core.__file__).parent
# A scheduler's name as a string, its settings, or an import of a scheduler plugin's modules.
# (`user_pref` as a string is also a task column, which core does name.)
NAMING = re.compile(
    r"""["'](locked|breadth_first|depth_first|depth_first_all|incremental)["']"""
    r"|scheduler\.(locked|breadth_first|incremental|user_pref)\."
    r"|(from|import) plugins\.schedulers|services\.reservations|import reservations"
)


def _naming_lines():
    for path in sorted(CORE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if NAMING.search(line):
                yield f"{path.relative_to(CORE.parent)}:{number}: {line.strip()}"


def test_core_names_no_scheduler():
    assert list(_naming_lines()) == []


def test_the_check_sees_a_scheduler_named(tmp_path, monkeypatch):
    # The pattern catches what core used to hold (so the test above can fail).
    for line in (
        'return name == "locked"',
        'settings["scheduler.locked.timeout"]',
        "from core.services import reservations",
        "from plugins.schedulers.locked import reservations",
    ):
        assert NAMING.search(line), line
    assert not NAMING.search("with_for_update(skip_locked=True)")
