"""core.services.pro: the one rule of the features `pro_features` reserves (behavior.md 12)."""

from types import SimpleNamespace

import pytest

from core.services import pro
from core.settings import load_settings

ADMIN = SimpleNamespace(admin=True, pro=False)
PRO = SimpleNamespace(admin=False, pro=True)
PLAIN = SimpleNamespace(admin=False, pro=False)


def reserving(*names) -> dict:
    return load_settings({"pro_features": " ".join(names)}, environ={})


@pytest.mark.parametrize("name", pro.FEATURES)
def test_a_feature_not_reserved_is_on_for_everyone(name):
    assert pro.enabled(reserving(), name) is True
    assert pro.enabled(reserving(), name, PLAIN) is True


@pytest.mark.parametrize("name", ["auditlog", "webhooks", "autoimporter"])
def test_a_reserved_feature_of_the_caller_is_for_admins_and_pro_callers(name):
    settings = reserving(name)

    assert [pro.enabled(settings, name, who) for who in (None, PLAIN, PRO, ADMIN)] == [
        False,
        False,
        True,
        True,
    ]
    # A pro owner does not unlock the caller's features.
    assert pro.enabled(settings, name, PLAIN, owner_pro=True) is False


@pytest.mark.parametrize("name", sorted(pro.OWNER_FEATURES))
def test_a_reserved_feature_of_the_project_follows_its_owner_or_an_admin(name):
    settings = reserving(name)

    assert pro.enabled(settings, name, PLAIN, owner_pro=False) is False
    assert pro.enabled(settings, name, PRO, owner_pro=False) is False
    assert pro.enabled(settings, name, None, owner_pro=True) is True
    assert pro.enabled(settings, name, ADMIN, owner_pro=False) is True


def test_an_unknown_feature_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown pro feature"):
        pro.enabled(reserving(), "teleport")


@pytest.mark.parametrize("name", pro.FEATURES)
def test_a_feature_switched_off_is_off_for_everyone(name):
    settings = load_settings({"plugins.pro": "", "pro_features": name}, environ={})
    on = load_settings({}, environ={})

    assert pro.switched_on(settings, name) is False
    assert [pro.enabled(settings, name, who, owner_pro=True) for who in (PRO, ADMIN)] == [
        False,
        False,
    ]
    assert pro.switched_on(on, name) is True
