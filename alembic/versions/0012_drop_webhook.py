"""Drop the `webhook` table (issue 19, point 4).

Webhook deliveries have been kept in `webhook_delivery` since revision 0006 (its payload,
status, attempts and the receiver's answer); nothing has written `webhook` since. Its rows, if a
database has any, are the outcomes of deliveries made before 0006 and are dropped with it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op
from core.db import JSONType

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhook") as batch_op:
        batch_op.drop_index("ix_webhook_project_id")
    op.drop_table("webhook")


def downgrade():
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.Text(), nullable=False),
        sa.Column("updated", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("response_status_code", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_webhook_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    with op.batch_alter_table("webhook") as batch_op:
        batch_op.create_index("ix_webhook_project_id", ["project_id"], unique=False)
