"""The hand-out guard's Redis side is written once (core.services.guard.LUA): the application
runs it, and every script of the lean path and of `locked` that stamps, reads or consumes a
stamp is composed with it and calls it instead of restating the commands."""

import pytest

from core import delivery
from core.services import guard
from plugins.schedulers import locked
from plugins.schedulers.locked import reservations


def _scripts() -> dict:
    """{name: (Lua source, the guard's function it must call)} of every script that touches
    stamps."""
    found = {
        "application stamp": (guard.STAMP, "guard_stamp("),
        "application read": (guard.READ, "guard_read("),
        "application consume": (guard.CONSUME, "guard_consume("),
        "lean newtask": (delivery.COUNT_AND_STAMP, "guard_stamp("),
        "locked reserve": (reservations.RESERVE, "guard_stamp("),
    }
    for gate in (None, locked.GATE):
        read, release = delivery.answer_scripts(gate)
        found[f"lean answer read, gate {gate is not None}"] = (read, "guard_read(")
        found[f"lean answer release, gate {gate is not None}"] = (release, "guard_consume(")
    return found


@pytest.mark.parametrize("name", sorted(_scripts()))
def test_every_script_touching_stamps_calls_the_guards_one_lua(name):
    source, call = _scripts()[name]
    assert source.startswith(guard.LUA)
    assert call in source[len(guard.LUA) :]
