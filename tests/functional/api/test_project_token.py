"""Project JWTs (decision 10): HS256 only, iat/exp, dead after a secret-key reset."""

import time

import jwt

from core.models import Project
from tests.factories import ProjectFactory, TaskFactory


def _token(app, project):
    return app.get(
        f"/api/auth/project/{project.short_name}/token",
        headers={"Authorization": project.secret_key},
    ).text


def _newtask(app, project, token, status=200):
    return app.get(
        f"/api/project/{project.id}/newtask?external_uid=partner-7",
        headers={"Authorization": f"Bearer {token}"},
        status=status,
    )


def test_token_carries_iat_and_exp_and_is_hs256(app, db):
    project = ProjectFactory()

    token = _token(app, project)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, project.secret_key, algorithms=["HS256"])
    assert header["alg"] == "HS256"
    assert claims["project_id"] == project.id and claims["short_name"] == project.short_name
    assert claims["exp"] - claims["iat"] == 24 * 3600


def test_token_dies_with_a_secret_key_reset(app, db):
    project = ProjectFactory()
    TaskFactory(project=project)
    token = _token(app, project)
    _newtask(app, project, token)

    db.get(Project, project.id).secret_key = "a-new-secret"
    db.commit()
    refused = _newtask(app, project, token, status=401).json

    assert refused == {"code": "Decode error", "description": "Signature verification failed"}


def test_expired_token_is_refused(app, db):
    project = ProjectFactory()
    stale = jwt.encode(
        {
            "short_name": project.short_name,
            "project_id": project.id,
            "iat": int(time.time()) - 7200,
            "exp": int(time.time()) - 3600,
        },
        project.secret_key,
        algorithm="HS256",
    )

    refused = _newtask(app, project, stale, status=401).json

    assert refused["code"] == "Token expired"


def test_unsigned_or_other_algorithm_tokens_are_refused(app, db):
    project = ProjectFactory()
    claims = {
        "short_name": project.short_name,
        "project_id": project.id,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    hs512 = jwt.encode(claims, project.secret_key, algorithm="HS512")

    assert _newtask(app, project, unsigned, status=401).json["code"] == "Decode error"
    assert _newtask(app, project, hs512, status=401).json["code"] == "Decode error"


def test_token_of_another_project_is_refused_for_task_runs(app, db):
    project, other = ProjectFactory(), ProjectFactory()
    task = TaskFactory(project=project)
    foreign = _token(app, other)

    refused = app.post_json(
        "/api/taskrun?external_uid=partner-7",
        {"project_id": project.id, "task_id": task.id, "external_uid": "partner-7"},
        headers={"Authorization": f"Bearer {foreign}"},
        status=403,
    ).json

    assert refused["exception_msg"] == "Signature verification failed"


def test_header_shapes(app, db):
    project = ProjectFactory()

    wrong_scheme = app.get(
        f"/api/project/{project.id}/newtask?external_uid=u",
        headers={"Authorization": "Token abc"},
        status=401,
    ).json
    bare = app.get(
        f"/api/project/{project.id}/newtask?external_uid=u",
        headers={"Authorization": "Bearer"},
        status=401,
    ).json
    too_many = app.get(
        f"/api/project/{project.id}/newtask?external_uid=u",
        headers={"Authorization": "Bearer a b"},
        status=401,
    ).json

    assert wrong_scheme["description"] == "Authorization header must start with Bearer"
    assert bare["description"] == "Token not found"
    assert too_many["description"] == "Authorization header must be Bearer + \\s + token"


def test_each_external_user_is_one_volunteer_live_and_recounted(app, db):
    """A partner app's users count as volunteers by external id, live and when the figures are
    recounted (one rule: answers.VOLUNTEER_KINDS). Before, every external user after the first
    counted as nobody live, and none of them counted in the recount."""
    from core.models import ProjectStats
    from core.services import stats

    project = ProjectFactory(allow_anonymous_contributors=True)
    for _ in range(2):
        TaskFactory(project=project, n_answers=5)
    token = _token(app, project)
    callers = [
        (f"external_uid={uid}", {"Authorization": f"Bearer {token}"}, uid)
        for uid in ("partner-1", "partner-2")
    ]
    callers.append(("", {}, None))  # one anonymous volunteer, by address
    for query, headers, uid in callers:
        for _ in range(2):
            task = app.get(f"/api/project/{project.id}/newtask?{query}", headers=headers).json
            body = {"project_id": project.id, "task_id": task["id"]}
            if uid:
                body["external_uid"] = uid
            app.post_json(f"/api/taskrun?{query}", body, headers=headers)

    live = db.get(ProjectStats, project.id).n_volunteers
    stats.recompute(db, project.id)
    db.expire_all()

    assert live == db.get(ProjectStats, project.id).n_volunteers == 3
