"""A default category on a site that has none (issue 18, point 1).

PYBOSSA creates one when its database is created, and clients (`pbs create-project`) create
projects without a `category_id`, which go into the first category. A database that already has
categories is left as it is.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op
from core.db import JSONType, utcnow
from core.models.category import DEFAULT_CATEGORY

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CATEGORY = sa.table(
    "category",
    *(sa.column(name) for name in ("name", "short_name", "description", "created")),
    sa.column("info", JSONType),
)


def upgrade():
    connection = op.get_bind()
    if connection.scalar(sa.text("SELECT count(*) FROM category")) == 0:
        connection.execute(CATEGORY.insert().values(**DEFAULT_CATEGORY, created=utcnow(), info={}))


def downgrade():
    # The category may hold projects by now, and an admin may have renamed it: it stays.
    pass
