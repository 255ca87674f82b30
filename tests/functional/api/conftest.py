"""Fixtures of the API tests; the helpers themselves are in roles.py."""

import pytest

from tests.functional.api.roles import cast


@pytest.fixture
def world(db):
    """Users by role and a project owned by "owner" and "coowner"; see roles.cast."""
    return cast()
