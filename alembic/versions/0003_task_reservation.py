"""task_reservation: the locked scheduler's reservations when Redis is not configured.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_reservation",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("participant", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_task_reservation_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "participant", name=op.f("pk_task_reservation")),
    )
    with op.batch_alter_table("task_reservation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_reservation_expires"), ["expires"], unique=False)
        batch_op.create_index(
            "ix_task_reservation_project_participant",
            ["project_id", "participant"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("task_reservation", schema=None) as batch_op:
        batch_op.drop_index("ix_task_reservation_project_participant")
        batch_op.drop_index(batch_op.f("ix_task_reservation_expires"))
    op.drop_table("task_reservation")
