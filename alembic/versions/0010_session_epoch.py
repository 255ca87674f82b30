"""user.session_epoch: sessions end at sign-out and at a password change (issue 17, point 6).

Sessions are signed cookies, which the server cannot take back. Each session now carries the
account's epoch it was issued under, and is honoured only while the account still has that
epoch: signing out or changing the password bumps it. Existing accounts start at 0, which is
also what a session issued before this revision counts as, so nobody is signed out by it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "user",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("session_epoch")
