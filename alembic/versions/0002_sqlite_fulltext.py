"""SQLite full-text index of first-level info strings (FTS5), kept by triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("task", "task_run", "result", "project", "category")


def _index_rows(table: str, alias: str) -> str:
    return (
        f"INSERT INTO info_fts(kind, obj_id, key, content) "
        f"SELECT '{table}', {alias}.id, j.key, j.value FROM json_each({alias}.info) AS j "
        f"WHERE json_valid({alias}.info) AND json_type({alias}.info) = 'object' "
        f"AND j.type = 'text';"
    )


def _unindex(table: str, alias: str) -> str:
    return f"DELETE FROM info_fts WHERE kind = '{table}' AND obj_id = {alias}.id;"


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE info_fts USING fts5("
        "kind UNINDEXED, obj_id UNINDEXED, key UNINDEXED, content)"
    )
    for table in TABLES:
        op.execute(
            f'CREATE TRIGGER {table}_info_fts_insert AFTER INSERT ON "{table}" BEGIN '
            f"{_index_rows(table, 'NEW')} END"
        )
        op.execute(
            f'CREATE TRIGGER {table}_info_fts_update AFTER UPDATE OF info ON "{table}" BEGIN '
            f"{_unindex(table, 'OLD')} {_index_rows(table, 'NEW')} END"
        )
        op.execute(
            f'CREATE TRIGGER {table}_info_fts_delete AFTER DELETE ON "{table}" BEGIN '
            f"{_unindex(table, 'OLD')} END"
        )
        op.execute(
            _index_rows(table, f'"{table}"').replace(
                f'FROM json_each("{table}".info)', f'FROM "{table}", json_each("{table}".info)'
            )
        )


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_info_fts_{event}")
    op.execute("DROP TABLE IF EXISTS info_fts")
