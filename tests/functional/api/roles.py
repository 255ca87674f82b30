"""The callers the API tests act as, and the small helpers they share.

`cast()` builds the usual cast: a volunteer, an admin, and a project with an owner and a
coowner (and, when asked, a draft project of the same owners). Tests look callers up by role
in `cast().users`, where "anonymous" is None.
"""

from types import SimpleNamespace

from tests.factories import ProjectFactory, UserFactory

ROLES = ("anonymous", "volunteer", "owner", "coowner", "admin")
WRITERS = {"owner", "coowner", "admin"}


def auth(user):
    return {"Authorization": user.api_key} if user is not None else {}


def denied(role):
    return 401 if role == "anonymous" else 403


def fresh(db, model, oid):
    """Re-read a row outside any earlier snapshot, then release the session's transaction."""
    db.rollback()
    db.expire_all()
    obj = db.get(model, oid)
    db.commit()
    return obj


def caller(role):
    """A new user for a site-wide role: None, a volunteer, an admin, or the owner of a project."""
    if role == "anonymous":
        return None
    user = UserFactory(admin=role == "admin")
    if role == "owner":
        ProjectFactory(owner=user)
    return user


def cast(draft: bool = False, **project_fields):
    """Users by role and a published project they own (plus an unpublished one with `draft`)."""
    owner, coowner, volunteer = UserFactory(), UserFactory(), UserFactory()
    admin = UserFactory(admin=True)
    world = SimpleNamespace(
        users={
            "anonymous": None,
            "volunteer": volunteer,
            "owner": owner,
            "coowner": coowner,
            "admin": admin,
        },
        project=ProjectFactory(owner=owner, coowners=[coowner], **project_fields),
    )
    if draft:
        world.draft = ProjectFactory(owner=owner, coowners=[coowner], published=False)
    return world
