"""Schema rules the models must keep."""

from sqlalchemy import UniqueConstraint

from core.models import Base


def _usable_index_columns(table) -> set[str]:
    """Columns that lead a full (non-partial) index, a unique constraint or the primary key."""
    leading = {next(iter(table.primary_key.columns.keys()))}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.columns:
            leading.add(constraint.columns.keys()[0])
    for index in table.indexes:
        partial = any(
            options.get("where") is not None
            for options in (index.dialect_options["sqlite"], index.dialect_options["postgresql"])
        )
        if not partial:
            leading.add(index.columns.keys()[0])
    return leading


def test_every_foreign_key_leads_a_full_index():
    """Deleting a parent checks each child table by its key: without an index, once per row."""
    missing = [
        f"{table.name}.{fk.parent.name}"
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.parent.name not in _usable_index_columns(table)
    ]

    assert missing == []
