"""The application starts with every plugin switched on from a plain `pip install .`, and a
switch whose package is missing refuses to start with one line naming what to install.

A plain install is simulated in a child process: imports of any distribution outside the
closure of setup.py's install_requires (the test extras, for instance) fail there.
"""

import ast
import json
import os
import re
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from core import hookspecs, plugins
from core.plugins import MissingExtra, installed_plugins, require_extras
from core.settings import load_settings

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _install_requires() -> list[str]:
    """setup.py's `requires` list, read from the source (the installed metadata may be older)."""
    tree = ast.parse(open(os.path.join(HERE, "setup.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "requires":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no `requires` list")


def plain_install_closure() -> set[str]:
    """The distributions `pip install .` brings: install_requires and their own requirements."""
    found: set[str] = {"crowdnest"}
    pending = [Requirement(text) for text in _install_requires()]
    while pending:
        requirement = pending.pop()
        name = _canonical(requirement.name)
        extras = requirement.extras
        key = (name, tuple(sorted(extras)))
        if key in found:
            continue
        found.add(key)
        found.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append(child)
    return {item for item in found if isinstance(item, str)}


# Run in the child: a finder that refuses the modules of distributions outside the closure.
CHILD = """
import json, sys
from importlib import metadata
from importlib.abc import MetaPathFinder

allowed, settings = json.loads(sys.argv[1]), json.loads(sys.argv[2])
owners = metadata.packages_distributions()
canonical = lambda name: name.replace("_", "-").replace(".", "-").lower()

class PlainInstall(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        dists = owners.get(top)
        if dists and not any(canonical(dist) in allowed for dist in dists):
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None

sys.meta_path.insert(0, PlainInstall())
from core import main
main({"here": "."}, **settings)
print("built")
"""


def start(tmp_path, **settings) -> subprocess.CompletedProcess:
    """Build the application in a plain-install child process with these settings."""
    values = {
        "session.secret": "test-secret",
        "redis.url": "",
        "sqlalchemy.url": f"sqlite:///{tmp_path}/plain.sqlite",
        "upload.dir": str(tmp_path / "uploads"),
        "export.dir": str(tmp_path / "exports"),
        **settings,
    }
    allowed = sorted(plain_install_closure())
    environment = {**os.environ, "PYTHONPATH": HERE}
    return subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(allowed), json.dumps(values)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=environment,
        timeout=120,
    )


def every_plugin() -> dict[str, str]:
    """Settings switching on every plugin Crowdnest ships (not the test suite's sample one)."""
    shipped = {
        kind: sorted(name for name, entry in found.items() if entry.dist.name == "crowdnest")
        for kind, found in installed_plugins().items()
    }
    settings = {f"plugins.{kind}": " ".join(names) for kind, names in shipped.items()}
    for name in shipped["auth_providers"]:
        settings[f"auth_provider.{name}.client_id"] = "client"
        settings[f"auth_provider.{name}.client_secret"] = "secret"
    return settings


def test_the_test_extras_are_outside_a_plain_install():
    closure = plain_install_closure()
    assert "authlib" in closure and "markdown-it-py" in closure
    assert not {"webtest", "ldap3", "selenium"} & closure


def test_every_plugin_switched_on_starts_from_a_plain_install(tmp_path):
    settings = every_plugin()
    assert {"github", "google", "facebook", "twitter"} <= set(
        settings["plugins.auth_providers"].split()
    )
    started = start(tmp_path, **settings)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().endswith("built")


def test_ldap_without_its_extra_refuses_in_one_line(tmp_path):
    started = start(tmp_path, **{"ldap.enabled": "true", "ldap.host": "ldap://directory"})
    assert started.returncode == 1
    assert started.stderr.strip().splitlines() == [
        "crowdnest cannot start: ldap.enabled = true needs the Python package 'ldap3', "
        "not installed: pip install 'crowdnest[ldap]'"
    ]


def test_a_missing_extra_refuses_before_the_database_is_touched(tmp_path):
    # Under pserve, the migration's log lines came before the refusal: no longer one line.
    started = start(
        tmp_path,
        **{"ldap.enabled": "true", "ldap.host": "ldap://directory", "db.auto_migrate": "true"},
    )

    assert started.returncode == 1
    assert len(started.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "plain.sqlite").exists()


class MissingPackage:
    """An entry point whose module imports `module`, not installed."""

    def __init__(self, module: str):
        self.module = module

    def load(self):
        raise ModuleNotFoundError(f"No module named {self.module!r}", name=self.module)


@pytest.mark.parametrize(
    "module, remedy",
    [("ldap3", "pip install 'crowdnest[ldap]'"), ("somethingelse", "pip install somethingelse")],
)
def test_a_plugin_missing_its_package_refuses_naming_the_extra(monkeypatch, module, remedy):
    # The extra comes from setup.py's extras_require (the installed metadata), not a table.
    found = {kind: {} for kind in hookspecs.GROUPS}
    found["auth_providers"]["directory"] = MissingPackage(module)
    monkeypatch.setattr(plugins, "installed_plugins", lambda: found)

    with pytest.raises(MissingExtra) as refusal:
        require_extras(load_settings({"plugins.auth_providers": "directory"}))

    assert str(refusal.value) == (
        f"plugins.auth_providers = directory needs the Python package {module!r}, "
        f"not installed: {remedy}"
    )
