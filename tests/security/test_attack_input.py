"""Found by the outside attack on issue 17: inputs that still crashed the server (500) after
the bad-input work: integers a JSON column cannot hold (its serializer writes 64 bits), `nan`
and `inf` as image crop corners, and JSON task imports nested too deep or holding lone
surrogates (decision 14: bad input never yields a 500)."""

import io

import pytest
from PIL import Image

from core.models import Task
from tests import factories
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

# 2**64 and more: the JSON columns' serializer (orjson) refuses them.
HUGE = 123456789012345678901234567890
IMPORTERS = {"plugins__importers": "csv json", "importer__background": "false"}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("number", [HUGE, 2**64, -(2**63) - 1])
def test_an_integer_a_json_column_cannot_hold_is_a_415(app, db, number):
    owner = factories.UserFactory()
    project = factories.ProjectFactory(owner=owner)
    db.commit()
    body = f'{{"project_id": {project.id}, "info": {{"n": {number}}}}}'

    response = app.post(
        "/api/task",
        body,
        headers={"Content-Type": "application/json", "Authorization": owner.api_key},
        status=415,
    )

    assert response.json["exception_cls"] == "DataError"
    assert "integer out of range" in response.json["exception_msg"]


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63)])
def test_the_largest_storable_integers_are_stored(app, db, number):
    owner = factories.UserFactory()
    project = factories.ProjectFactory(owner=owner)
    db.commit()
    body = f'{{"project_id": {project.id}, "info": {{"n": {number}}}}}'

    task = app.post(
        "/api/task",
        body,
        headers={"Content-Type": "application/json", "Authorization": owner.api_key},
    ).json

    assert task["info"]["n"] == number


@pytest.mark.parametrize("corner", ["nan", "inf", "-inf", "1e400"])
def test_crop_corners_that_are_no_number_of_pixels_are_form_errors(app, make_app, db, corner):
    user = make_user()
    owner = make_user()
    project = factories.ProjectFactory(owner=owner)
    db.commit()
    sign_in(app, user)
    form = {"btn": "Upload", "x1": "0", "y1": "0", "x2": corner, "y2": corner}

    account = app.post(
        f"/account/{user.name}/update?response_format=json",
        {**form, "csrf_token": csrf_token(app, f"/account/{user.name}/update")},
        upload_files=[("avatar", "me.png", png())],
    )
    app = make_app()
    sign_in(app, owner)
    thumbnail = app.post(
        f"/project/{project.short_name}/update?response_format=json",
        {**form, "csrf_token": csrf_token(app, f"/account/{owner.name}/update")},
        upload_files=[("avatar", "me.png", png())],
    )

    for response in (account, thumbnail):
        assert response.status_code == 200
        assert response.json["upload_form"]["errors"]["x2"]


def import_file(app, project, kind: str, data: bytes):
    page = f"/project/{project.short_name}/tasks/import?type={kind}"
    token = app.get(page, headers=JSON).json["form"]["csrf"]
    return app.post(
        page + "&response_format=json",
        {"csrf_token": token, "form_name": kind},
        upload_files=[(f"{kind}_file", f"tasks.{kind}", data)],
        expect_errors=True,
    )


@pytest.mark.parametrize(
    "data",
    [
        b'[{"q": "x", "n": %d}]' % HUGE,
        b'[{"q": "x", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}]",
        b'[{"q": "x", "deep": ' + b"[" * 300 + b"]" * 300 + b"}]",
        b'[{"q": "\\ud800"}]',
    ],
    ids=["huge-integer", "deeper-than-the-parser", "deeper-than-the-column", "lone-surrogate"],
)
def test_a_json_import_the_database_cannot_store_is_refused(make_app, db, data):
    owner = make_user()
    project = factories.ProjectFactory(owner=owner)
    db.commit()
    app = make_app(**IMPORTERS)
    sign_in(app, owner)

    response = import_file(app, project, "json", data)

    assert response.status_code < 500
    db.expire_all()
    assert db.query(Task).filter_by(project_id=project.id).count() == 0


def test_a_csv_cell_too_large_for_an_integer_keeps_its_text(make_app, db):
    owner = make_user()
    project = factories.ProjectFactory(owner=owner)
    db.commit()
    app = make_app(**IMPORTERS)
    sign_in(app, owner)
    digits = "9" * 5000

    response = import_file(app, project, "csv", f"q,n,m,k\nx,{HUGE},{digits},42\n".encode())

    assert response.status_code < 500
    db.expire_all()
    [task] = db.query(Task).filter_by(project_id=project.id).all()
    assert task.info == {"q": "x", "n": str(HUGE), "m": digits, "k": 42}
