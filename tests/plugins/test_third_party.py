"""A third-party plugin (tests/plugins/sample_plugin) installed with pip and enabled by the .ini.

It implements crowdnest_schedulers (the `reverse` scheduler), crowdnest_importers (the `lines`
importer) and crowdnest_includeme (the /sample-plugin/ping route). CI installs it:
`pip install -e tests/plugins/sample_plugin`.
"""

from importlib.metadata import entry_points

import pytest

from core.plugins import PluginError
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory
from tests.functional.web.conftest import JSON, make_user, sign_in

INSTALL = "pip install -e tests/plugins/sample_plugin"
pytest.importorskip(
    "crowdnest_sample_plugin", reason=f"the sample plugin is not installed: {INSTALL}"
)
if "reverse" not in {ep.name for ep in entry_points(group="crowdnest.schedulers")}:
    pytest.skip(f"the `reverse` entry point is not registered: {INSTALL}", allow_module_level=True)

ENABLED = {"plugins.schedulers": "default reverse"}


def _newtask_ids(app, project, user) -> list[int]:
    response = app.get(f"/api/project/{project.id}/newtask?limit=10&api_key={user.api_key}")
    return [task["id"] for task in response.json]


def test_crowdnest_includeme_adds_the_plugin_route(make_app):
    app = make_app(**ENABLED)

    response = app.get("/sample-plugin/ping")

    assert response.json == {"pong": True}


def test_crowdnest_schedulers_reverse_hands_out_newest_first(make_app, db):
    app = make_app(**ENABLED)
    project = ProjectFactory(info={"task_presenter": "<p>", "sched": "reverse"})
    tasks = [TaskFactory(project=project) for _ in range(3)]
    volunteer = UserFactory()

    ids = _newtask_ids(app, project, volunteer)

    assert ids == [task.id for task in reversed(tasks)]


def test_reverse_skips_tasks_the_volunteer_answered(make_app, db):
    app = make_app(**ENABLED)
    project = ProjectFactory(info={"task_presenter": "<p>", "sched": "reverse"})
    oldest, middle, newest = (TaskFactory(project=project) for _ in range(3))
    volunteer = UserFactory()
    TaskRunFactory(task=newest, user=volunteer)

    ids = _newtask_ids(app, project, volunteer)

    assert ids == [middle.id, oldest.id]


def test_installed_but_not_listed_means_off(make_app, db):
    app = make_app(**{"plugins.schedulers": "default"})
    project = ProjectFactory(info={"task_presenter": "<p>", "sched": "reverse"})
    tasks = [TaskFactory(project=project) for _ in range(3)]
    volunteer = UserFactory()

    app.get("/sample-plugin/ping", status=404)
    ids = _newtask_ids(app, project, volunteer)

    assert ids == [task.id for task in tasks]


def test_unknown_plugin_name_fails_at_start_up(make_app):
    with pytest.raises(PluginError) as raised:
        make_app(**{"plugins.schedulers": "default reverse no-such-scheduler"})

    assert "no-such-scheduler" in str(raised.value)
    assert "plugins.schedulers" in str(raised.value)


LINES = pytest.mark.skipif(
    "lines" not in {ep.name for ep in entry_points(group="crowdnest.importers")},
    reason=f"the `lines` importer entry point is not registered: {INSTALL}",
)


@LINES
def test_an_installed_importer_appears_on_the_import_page_and_imports(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    app = make_app(plugins__importers="csv lines")
    sign_in(app, owner)
    url = f"/project/{project.short_name}/tasks/import"

    listed = app.get(url, headers=JSON).json["available_importers"]
    form = app.get(f"{url}?type=lines", headers=JSON).json["form"]
    done = app.post_json(
        url,
        {"form_name": "lines", "lines": "first\n\nsecond\n"},
        headers={"X-CSRFToken": form["csrf"]},
    ).json

    assert "projects/tasks/lines.html" in listed
    assert done["status"] == "success"
    texts = [task["info"]["text"] for task in app.get(f"/api/task?project_id={project.id}").json]
    assert texts == ["first", "second"]


@LINES
def test_a_disabled_installed_importer_is_nowhere(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    app = make_app(plugins__importers="csv")
    sign_in(app, owner)
    url = f"/project/{project.short_name}/tasks/import"

    listed = app.get(url, headers=JSON).json["available_importers"]

    assert "projects/tasks/lines.html" not in listed
    app.get(f"{url}?type=lines", headers=JSON, status=404)
