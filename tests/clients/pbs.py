"""The real `pbs` command line (pybossa-pbs 3.0.0) for the tests that drive it.

It lives in a virtualenv of its own (its pins clash with ours): `make install-test` makes
var/pbs-venv and `make test` names it in CROWDNEST_PBS; else `pbs` on PATH is used. Without
either the tests skip, saying so, unless CROWDNEST_REQUIRE_CLIENTS=1 (CI), where they fail.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pbs_executable() -> str:
    """The pbs executable's absolute path, or a skip (a failure when the clients are required)."""
    named = os.environ.get("CROWDNEST_PBS")
    path = str(ROOT / named) if named else shutil.which("pbs")
    if path and os.access(path, os.X_OK):
        return path
    reason = (
        f"pbs not found (CROWDNEST_PBS={named!r}, none on PATH): `make install-test` makes "
        "var/pbs-venv with pybossa-pbs==3.0.0"
    )
    if os.environ.get("CROWDNEST_REQUIRE_CLIENTS") == "1":
        pytest.fail(f"CROWDNEST_REQUIRE_CLIENTS=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def run_pbs(
    pbs: str, folder: Path, server: str, api_key: str, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess:
    """Run `pbs --server … --api-key … <args>` in the project's folder, as its README says.

    HOME is the folder (no ~/.pybossa.cfg of the machine's) and PYTHONPATH is dropped (pbs runs
    in its own virtualenv). `answer` is typed at pbs' confirmation prompt.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HOME"] = str(folder)
    command = [pbs, "--server", server, "--api-key", api_key, *args]
    done = subprocess.run(
        command, cwd=folder, env=env, input=answer, capture_output=True, text=True, timeout=300
    )
    print("$ pbs", *args, f"-> exit {done.returncode}\n{done.stdout}{done.stderr}")
    return done
