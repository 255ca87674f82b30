"""Found by the outside attack on issue 17: the presenter frame's document, opened as a page of
its own rather than in its sandboxed iframe, must still run with an opaque origin."""

import re

from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, make_user

PRESENTER = "<script>fetch('/account/profile').then(r => r.text()).then(alert)</script>"


def sandbox_of(response) -> list[str] | None:
    """The flags of the response's CSP `sandbox` directive, None without one."""
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, _, flags = directive.strip().partition(" ")
        if name == "sandbox":
            return flags.split()
    return None


def test_the_frame_document_sandboxes_itself_when_opened_top_level(app, db):
    # Anyone gets a signed frame address from the page around it; a volunteer lured to it (or
    # sent there by the presenter itself, allow-top-navigation) must not run it on our origin.
    info = {"task_presenter": PRESENTER, "tutorial": PRESENTER}
    project = ProjectFactory(owner=make_user(), info=info)
    db.commit()
    for path in ("newtask", "tutorial"):
        page = app.get(f"/project/{project.short_name}/{path}", headers=JSON).json
        frame = app.get(page["frame"]["url"])
        assert PRESENTER in frame.text

        flags = sandbox_of(frame)

        assert flags is not None, "the frame document carries no CSP sandbox"
        assert "allow-scripts" in flags
        assert "allow-same-origin" not in flags
        # The same flags as the iframe's attribute: nothing more when opened alone.
        assert flags == page["frame"]["sandbox"].split()
        assert not re.search(r"allow-top-navigation(?!-by-user-activation)", " ".join(flags))
