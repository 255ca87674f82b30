"""list_indexes: indexes the API's project-scoped lists walk, ordered by id.

`/api/task?project_id=N&offset=M` (and task runs alike) pages through one project's rows in
id order: with (project_id, id) PostgreSQL reads the page's ids by an index-only scan
instead of filtering the whole primary key index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_task_project_id", "task", ["project_id", "id"], unique=False)
    op.create_index("ix_task_run_project_id", "task_run", ["project_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_task_run_project_id", table_name="task_run")
    op.drop_index("ix_task_project_id", table_name="task")
