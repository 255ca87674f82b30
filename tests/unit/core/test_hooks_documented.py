"""Every hook in core.hookspecs is documented in docs/plugins.md with its exact signature, and
has a dedicated test (a test function named test_hook_<hook>_...)."""

import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs

TESTS = Path(__file__).resolve().parents[2]
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


def documented_signatures() -> dict[str, str]:
    found = re.findall(
        r"^\*\*Signature:\*\* `((crowdnest_\w+)\(.*\))`$", PLUGINS_DOC.read_text(), re.M
    )
    return {name: signature for signature, name in found}


@pytest.mark.parametrize("hook", hook_names())
def test_hook_signature_is_the_documented_one(hook):
    actual = f"{hook}{inspect.signature(getattr(hookspecs, hook))}"

    assert documented_signatures().get(hook) == actual, (
        f"docs/plugins.md's `## {hook}` needs **Signature:** `{actual}`"
    )


@pytest.mark.parametrize("hook", hook_names())
def test_hook_has_a_dedicated_test(hook):
    pattern = re.compile(rf"^def test_hook_{hook}_\w*\(", re.MULTILINE)
    dedicated = [path for path in TESTS.rglob("test_*.py") if pattern.search(path.read_text())]
    assert dedicated, f"no test under tests/ is named test_hook_{hook}_...: write one"
