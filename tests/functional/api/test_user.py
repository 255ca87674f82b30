"""/api/user: privacy shaping, restricted users, and the protected fields of decision 3."""

import pytest

from core.models import User
from tests.factories import UserFactory
from tests.functional.api.roles import auth, fresh


def test_self_and_admin_see_the_full_public_record(app, db):
    me = UserFactory(info={"avatar": "a.png", "secret": 1})
    admin = UserFactory(admin=True)

    mine = app.get(f"/api/user/{me.id}", headers=auth(me)).json
    admins = app.get(f"/api/user/{me.id}", headers=auth(admin)).json

    assert mine == admins
    assert mine["email_addr"] == me.email_addr
    assert mine["info"] == {"avatar": "a.png", "secret": 1}
    assert {"id", "name", "fullname", "locale", "created", "n_answers", "rank"} <= set(mine)
    assert not {"passwd_hash", "api_key", "admin", "link", "links"} & set(mine)


@pytest.mark.parametrize("viewer", ["anonymous", "volunteer"])
def test_others_see_little_and_nothing_with_privacy_mode(app, db, viewer):
    public = UserFactory(privacy_mode=False, info={"avatar": "a.png", "secret": 1})
    private = UserFactory(privacy_mode=True)
    headers = auth(UserFactory() if viewer == "volunteer" else None)

    shown = app.get(f"/api/user/{public.id}", headers=headers).json
    hidden = app.get(f"/api/user/{private.id}", headers=headers).json

    assert shown["name"] == public.name and shown["fullname"] == public.fullname
    assert shown["info"] == {"avatar": "a.png"}
    assert not {"email_addr", "passwd_hash", "api_key", "id"} & set(shown)
    assert hidden == {"name": private.name, "locale": "en"}


def test_restricted_users_are_never_listed_and_only_self_reads(app, db):
    hidden = UserFactory(restrict=True)
    visible = UserFactory()
    admin = UserFactory(admin=True)

    listed = app.get("/api/user", headers=auth(admin)).json
    app.get(f"/api/user/{hidden.id}", status=401)
    app.get(f"/api/user/{hidden.id}", headers=auth(admin), status=403)
    own = app.get(f"/api/user/{hidden.id}", headers=auth(hidden)).json

    assert {user["name"] for user in listed} == {visible.name, admin.name}
    assert own["name"] == hidden.name


def test_non_admin_filter_on_fullname_only_matches_public_profiles(app, db):
    UserFactory(fullname="Ada", privacy_mode=True)
    public = UserFactory(fullname="Ada L", privacy_mode=False)
    UserFactory(fullname="Ada L2", privacy_mode=True)

    body = app.get("/api/user?fullname=Ada L").json

    assert [user["name"] for user in body] == [public.name]


def test_non_admin_cannot_filter_on_private_columns(app, db):
    target = UserFactory()

    body = app.get(f"/api/user?email_addr={target.email_addr}", status=415).json
    admin_view = app.get(
        f"/api/user?email_addr={target.email_addr}",
        headers=auth(UserFactory(admin=True)),
    ).json

    assert body["exception_cls"] == "AttributeError"
    assert [user["name"] for user in admin_view] == [target.name]


def test_password_hash_is_never_filterable(app, db):
    admin = UserFactory(admin=True)

    body = app.get("/api/user?passwd_hash=x", headers=auth(admin), status=415).json

    assert body["exception_cls"] == "AttributeError"


@pytest.mark.parametrize(
    "role, status",
    [("self", 200), ("admin", 200), ("volunteer", 403), ("anonymous", 401)],
)
def test_who_updates_a_user(app, db, role, status):
    target = UserFactory(fullname="Old")
    caller = {
        "self": target,
        "admin": UserFactory(admin=True),
        "volunteer": UserFactory(),
        "anonymous": None,
    }[role]

    app.put_json(
        f"/api/user/{target.id}",
        {"fullname": "New"},
        headers=auth(caller),
        status=status,
    )

    assert fresh(db, User, target.id).fullname == ("New" if status == 200 else "Old")


@pytest.mark.parametrize(
    "key, value",
    [
        ("admin", True),
        ("pro", True),
        ("api_key", "k"),
        ("passwd_hash", "x"),
        ("id", 99),
        ("restrict", True),
        ("valid_email", True),
    ],
)
def test_nobody_writes_protected_fields_of_themselves(app, db, key, value):
    me = UserFactory()
    admin = UserFactory(admin=True)

    mine = app.put_json(f"/api/user/{me.id}", {key: value}, headers=auth(me), status=400).json
    admins_own = app.put_json(
        f"/api/user/{admin.id}", {key: value}, headers=auth(admin), status=400
    ).json

    assert mine["exception_msg"] == admins_own["exception_msg"] == "Reserved keys in payload"
    stored = fresh(db, User, me.id)
    assert (stored.admin, stored.pro, stored.restrict, stored.valid_email) == (
        False,
        False,
        False,
        False,
    )
    assert stored.api_key == me.api_key


@pytest.mark.parametrize("key", ["api_key", "passwd_hash", "id", "restrict", "valid_email"])
def test_admin_cannot_write_other_protected_fields_of_others(app, db, key):
    target = UserFactory()
    admin = UserFactory(admin=True)

    app.put_json(f"/api/user/{target.id}", {key: "x"}, headers=auth(admin), status=400)

    assert fresh(db, User, target.id).api_key == target.api_key


def test_admin_grants_admin_and_pro_to_others(app, db):
    target = UserFactory()
    admin = UserFactory(admin=True)

    body = app.put_json(
        f"/api/user/{target.id}", {"admin": True, "pro": True}, headers=auth(admin)
    ).json

    stored = fresh(db, User, target.id)
    assert (stored.admin, stored.pro) == (True, True)
    assert "passwd_hash" not in body and "api_key" not in body


def test_post_and_delete_are_not_allowed(app, db):
    admin = UserFactory(admin=True)

    post = app.post_json("/api/user", {"name": "x"}, headers=auth(admin), status=405).json
    delete = app.delete(f"/api/user/{admin.id}", headers=auth(admin), status=405).json

    assert post["exception_cls"] == delete["exception_cls"] == "MethodNotAllowed"
    assert post["target"] == "user"


def test_errors(app, db):
    me = UserFactory()
    taken = UserFactory()
    url = f"/api/user/{me.id}"

    assert app.get("/api/user/4040", status=404).json["exception_cls"] == "NotFound"
    assert (
        app.put_json(url, {"shoe_size": 9}, headers=auth(me), status=415).json["exception_cls"]
        == "TypeError"
    )
    assert (
        app.put_json(url, {"privacy_mode": "yes"}, headers=auth(me), status=415).json[
            "exception_cls"
        ]
        == "DataError"
    )
    assert (
        app.put_json(url, {"name": taken.name}, headers=auth(me), status=415).json["exception_cls"]
        == "DBIntegrityError"
    )
    assert (
        app.put_json(url, {"fullname": ""}, headers=auth(me), status=415).json["exception_cls"]
        == "DBIntegrityError"
    )
