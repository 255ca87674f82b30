"""What `pip install .` installs: every file the package reads at run time, the migrations among
them, so that a plain (not editable) install starts and migrates its database (.ci/plain_install
does it for real; these tests build the package as a wheel would hold it, in seconds)."""

import os
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from core.migrate import alembic_config

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIPPED = shutil.ignore_patterns(
    ".git", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    """The files setuptools puts in the wheel (build_py of a copy: the checkout stays clean)."""
    pytest.importorskip("setuptools")
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(HERE, source, dirs_exist_ok=True, ignore=SKIPPED)
    lib = tmp_path_factory.mktemp("lib")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(lib)


def files_under(folder: str) -> set[str]:
    """Paths relative to `folder` of its files, caches left out."""
    found = set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        found.update(os.path.relpath(os.path.join(root, name), folder) for name in files)
    return found


def test_every_file_of_the_packages_is_installed(built):
    # core/locale (the translation folder core.i18n registers) was missing: start-up failed.
    for package in ("core", "plugins"):
        expected = files_under(os.path.join(HERE, package))
        missing = expected - files_under(os.path.join(built, package))
        assert not missing, f"not installed from {package}/: {sorted(missing)}"


def test_the_migrations_are_installed_as_core_migrations(built):
    expected = files_under(os.path.join(HERE, "alembic"))
    installed = files_under(os.path.join(built, "core", "migrations"))
    assert "env.py" in expected and not expected - installed


def test_the_installed_package_migrates_a_database(built, tmp_path):
    url = f"sqlite:///{tmp_path}/installed.sqlite"
    child = (
        "import sys; from core.migrate import ALEMBIC_DIR, upgrade; "
        "upgrade(sys.argv[1]); print(ALEMBIC_DIR)"
    )
    environment = {**os.environ, "PYTHONPATH": built}
    migrated = subprocess.run(
        [sys.executable, "-c", child, url],
        cwd=str(tmp_path),
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == os.path.join(built, "core", "migrations")
    with sa.create_engine(url).connect() as connection:
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert revision == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
