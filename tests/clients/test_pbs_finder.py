"""Finding pbs: CROWDNEST_PBS, else PATH; missing is a skip, or a failure when CI requires it."""

import pytest

from tests.clients.pbs import pbs_executable


def test_crowdnest_pbs_names_the_executable(monkeypatch, tmp_path):
    pbs = tmp_path / "pbs"
    pbs.write_text("#!/bin/sh\n")
    pbs.chmod(0o755)
    monkeypatch.setenv("CROWDNEST_PBS", str(pbs))

    assert pbs_executable() == str(pbs)


def test_a_missing_pbs_is_a_skip_saying_why(monkeypatch, tmp_path):
    monkeypatch.setenv("CROWDNEST_PBS", str(tmp_path / "nowhere" / "pbs"))
    monkeypatch.delenv("CROWDNEST_REQUIRE_CLIENTS", raising=False)

    with pytest.raises(pytest.skip.Exception, match="make install-test"):
        pbs_executable()


def test_a_missing_pbs_fails_when_the_clients_are_required(monkeypatch, tmp_path):
    monkeypatch.setenv("CROWDNEST_PBS", str(tmp_path / "nowhere" / "pbs"))
    monkeypatch.setenv("CROWDNEST_REQUIRE_CLIENTS", "1")

    with pytest.raises(pytest.fail.Exception, match="CROWDNEST_REQUIRE_CLIENTS=1"):
        pbs_executable()
