"""The columns the server keeps for itself: never shown, written, filtered or ordered on."""

from core.models.task import Task
from core.models.user import User

INTERNAL = {Task: {"n_task_runs", "info_digest"}, User: {"passwd_hash", "session_epoch"}}


def internal_columns(model) -> set:
    """Columns the server keeps for itself: never shown, written, filtered or ordered on."""
    return INTERNAL.get(model, set())
