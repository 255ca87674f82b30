"""core.inputs: what clients may send, each rule once."""

import pytest

from core.inputs import ascii_digits


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("12", True),
        ("0", True),
        ("", False),
        ("²", False),
        ("1²", False),
        ("١٢", False),
        ("-1", False),
    ],
)
def test_ascii_digits_are_what_int_reads(text, digits):
    assert ascii_digits(text) is digits
    if digits:
        assert int(text) >= 0
