"""Every hook in core.hookspecs is documented in docs/plugins.md and exercised by a test."""

import re
from pathlib import Path

import pytest

from core import hookspecs

TESTS = Path(__file__).resolve().parents[1]
PLUGINS_DOC = TESTS.parent / "docs" / "plugins.md"


def hook_names() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, marker)
    )


def documented_hooks() -> set[str]:
    return set(re.findall(r"^## (crowdnest_\w+)\s*$", PLUGINS_DOC.read_text(), re.MULTILINE))


def test_hookspecs_are_found():
    assert "crowdnest_includeme" in hook_names()


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented(hook):
    assert hook in documented_hooks(), f"docs/plugins.md needs a `## {hook}` section"


def test_no_section_documents_a_hook_that_does_not_exist():
    assert documented_hooks() <= set(hook_names())


@pytest.mark.parametrize("hook", hook_names())
def test_hook_has_a_test(hook):
    this_file = Path(__file__).resolve()
    referencing = [
        path
        for path in TESTS.rglob("test_*.py")
        if path.resolve() != this_file and hook in path.read_text()
    ]
    assert referencing, f"no test file under tests/ mentions {hook}: test the hook"
