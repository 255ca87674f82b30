"""after_commit(request, fn, *args): side effects leave only once the transaction commits."""

import logging

from core.db import UNTRACKED_REQUEST
from core.db import after_commit as db_after_commit

log = logging.getLogger(__name__)


def after_commit(request, fn, *args, **kwargs):
    """Call fn(*args, **kwargs) after a successful commit; its errors are logged, not raised."""

    def hook(succeeded):
        if not succeeded:
            return
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("after-commit side effect %s failed", getattr(fn, "__name__", fn))

    if getattr(request, "environ", {}).get(UNTRACKED_REQUEST):
        # No pyramid_tm transaction (an API read or newtask, core.db.untracked_tween): the
        # session's commit.
        db_after_commit(request.dbsession, hook, True)
        return
    request.tm.get().addAfterCommitHook(hook)


def includeme(config):
    config.add_request_method(
        lambda request, fn, *args, **kwargs: after_commit(request, fn, *args, **kwargs),
        "after_commit",
    )
