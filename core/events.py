"""after_commit(request, fn, *args): side effects leave only once the transaction commits."""

import logging

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

    request.tm.get().addAfterCommitHook(hook)


def includeme(config):
    config.add_request_method(
        lambda request, fn, *args, **kwargs: after_commit(request, fn, *args, **kwargs),
        "after_commit",
    )
