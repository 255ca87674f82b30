"""docs/plugins.md's fast scheduler (`crowdnest-newest`), installed as a third-party package.

The package's files and its .ini lines are taken from the code blocks of docs/plugins.md, so
the page and this test cannot drift apart. pip installs the package into a folder of this
module's (`--target`), put on sys.path while the module runs and removed afterwards: the
environment the suite runs in is left as it was. The scheduler then runs through the Pyramid
view (any database, no Redis) and through the lean path (core.delivery: PostgreSQL and Redis).
"""

import configparser
import importlib
import importlib.util
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.lean import Spy, lean_of

PLUGINS_DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SECTION = "### A fast scheduler, complete: `crowdnest-newest`"
# `<!-- file: NAME -->` then the fenced block holding that file.
FILE_BLOCK = re.compile(r"<!-- file: ([\w.]+) -->\n```\w*\n(.*?)\n```", re.DOTALL)
MODULE = "crowdnest_newest"


def documented_files() -> dict[str, str]:
    """{file name: text} of the section's code blocks."""
    text = PLUGINS_DOC.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start)
    return {name: body + "\n" for name, body in FILE_BLOCK.findall(text[start:end])}


def documented_settings(ini_text: str) -> dict[str, str]:
    """The .ini lines of the section, as make_app takes settings."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string("[app:main]\n" + ini_text)
    return dict(parser["app:main"])


def pip_install(source: Path, target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile"]
    command += ["--disable-pip-version-check", "--target", str(target), str(source)]
    if importlib.util.find_spec("wheel") and importlib.util.find_spec("setuptools"):
        # What the build needs is here: no fetching of build requirements.
        command.insert(4, "--no-build-isolation")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"pip could not install the documented package:\n{done.stderr}"


@pytest.fixture(scope="module")
def newest_settings(tmp_path_factory):
    """The documented .ini settings, with the documented package installed meanwhile."""
    files = documented_files()
    assert set(files) == {"pyproject.toml", f"{MODULE}.py", "crowdnest.ini"}
    source = tmp_path_factory.mktemp("crowdnest-newest")
    for name in ("pyproject.toml", f"{MODULE}.py"):
        (source / name).write_text(files[name])
    target = tmp_path_factory.mktemp("site")
    pip_install(source, target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield documented_settings(files["crowdnest.ini"])
    finally:
        sys.path.remove(str(target))
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()


def newest_project():
    """Tasks 1, 2 and 3 (oldest first) of a `newest` project; a volunteer answered the third."""
    project = ProjectFactory(info={"task_presenter": "<p></p>", "sched": "newest"})
    tasks = [TaskFactory(project=project, info={"n": n}) for n in (1, 2, 3)]
    volunteer = UserFactory()
    TaskRunFactory(task=tasks[2], user=volunteer)
    return project, tasks, volunteer


def ids(answer) -> list[int]:
    return [task["id"] for task in (answer if isinstance(answer, list) else [answer])]


def cycle(app, project, tasks, volunteer) -> dict:
    """What the docs say, step by step: {step: the task ids answered}."""
    key = f"api_key={volunteer.api_key}"
    newtask = f"/api/project/{project.id}/newtask"
    seen = {
        "first": ids(app.get(f"{newtask}?{key}").json),
        "again, by short name": ids(
            app.get(f"/api/project/{project.short_name}/newtask?{key}").json
        ),
        "limit=2": ids(app.get(f"{newtask}?limit=2&{key}").json),
        "anonymous": ids(app.get(newtask).json),
    }
    answer = {"project_id": project.id, "task_id": tasks[1].id, "info": {"answer": "yes"}}
    app.post_json(f"/api/taskrun?{key}", answer, status=200)
    seen["after answering 2"] = ids(app.get(f"{newtask}?{key}").json)
    return seen


def expected(tasks) -> dict:
    one, two, three = (task.id for task in tasks)
    return {
        "first": [two],
        "again, by short name": [two],
        "limit=2": [two, one],
        "anonymous": [three],
        "after answering 2": [one],
    }


def test_the_documented_package_installs_its_entry_point_outside_the_environment(
    newest_settings,
):
    (found,) = [ep for ep in entry_points(group="crowdnest.schedulers") if ep.name == "newest"]

    assert found.value == MODULE
    assert found.dist.name == "crowdnest-newest"
    assert newest_settings == {"plugins.schedulers": "default newest"}


def test_newest_through_the_application(make_app, db, newest_settings):
    app = make_app(**newest_settings)
    project, tasks, volunteer = newest_project()

    seen = cycle(app, project, tasks, volunteer)

    assert seen == expected(tasks)


def test_newest_counts_pending_hand_outs(make_app, db, newest_settings):
    """The package asks for pending hand-outs (pending=True): a task handed out fills it."""
    app = make_app(**newest_settings)
    project = ProjectFactory(info={"task_presenter": "<p></p>", "sched": "newest"})
    older, newer = (TaskFactory(project=project, n_answers=1) for _ in range(2))
    first, second = UserFactory(), UserFactory()
    newtask = f"/api/project/{project.id}/newtask"

    assert ids(app.get(f"{newtask}?api_key={first.api_key}").json) == [newer.id]
    assert ids(app.get(f"{newtask}?api_key={second.api_key}").json) == [older.id]


def test_newest_through_the_lean_path(
    make_app, db, engine, redis_client, redis_url, newest_settings
):
    if engine.dialect.name != "postgresql":
        pytest.skip("the lean path is measured on PostgreSQL: set CROWDNEST_TEST_DATABASE_URL")
    app = make_app(redis__url=redis_url, **newest_settings)
    plain = make_app(redis__url=redis_url, delivery__lean="false", **newest_settings)
    middleware = lean_of(app)
    middleware.forget_hints()
    spy = middleware.app = Spy(middleware.app)
    project, tasks, volunteer = newest_project()
    try:
        same = plain.get(f"/api/project/{project.id}/newtask?limit=3").json
        seen = cycle(app, project, tasks, volunteer)
    finally:
        middleware.app = spy.app

    assert seen == expected(tasks)
    # Every request of the cycle was the lean path's: the application never saw one.
    assert spy.calls == 0
    assert app.get(f"/api/project/{project.id}/newtask?limit=3").json == same
