"""Full-text search on SQLite: an FTS5 index of first-level `info` strings.

Domain code: knows nothing of HTTP. The index `info_fts(kind, obj_id, key, content)` is kept by
triggers (alembic revision 0002). PostgreSQL's tsquery syntax (`a&b`, `a|b`, `!a`, `a:*`,
parentheses) is translated into FTS5's, so clients send the same query to either database.
"""

import re

from sqlalchemy import and_, column, func, literal_column, select, table, text

from core.errors import DomainError

INDEXED = ("task", "task_run", "result", "project", "category")
info_fts = table("info_fts", column("kind"), column("obj_id"), column("key"), column("content"))
TOKEN = re.compile(r"\s*(?:(\()|(\))|(&)|(\|)|(!)|([^\s()&|!:]+)(:\*)?)")


def to_fts5(query: str) -> str:
    """Translate tsquery text into an FTS5 query, or refuse it with 415 DataError."""
    out, position, expect_term = [], 0, True
    depth = 0
    query = query.strip()
    if not query:
        raise DomainError("DataError", "syntax error in tsquery: empty query")
    while position < len(query):
        match = TOKEN.match(query, position)
        if not match or match.end() == position:
            raise DomainError("DataError", f'syntax error in tsquery: "{query}"')
        position = match.end()
        opening, closing, conj, _disj, negation, word, prefix = match.groups()
        if opening or negation or word:
            if not expect_term:
                raise DomainError("DataError", f'syntax error in tsquery: "{query}"')
            if opening:
                depth += 1
                out.append("(")
            elif negation:
                # FTS5's NOT is binary: "!a" alone means "anything but a".
                out.append("NOT")
            else:
                out.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
                expect_term = False
        else:
            if expect_term or (closing and depth == 0):
                raise DomainError("DataError", f'syntax error in tsquery: "{query}"')
            if closing:
                depth -= 1
                out.append(")")
            else:
                out.append("AND" if conj else "OR")
                expect_term = True
    if expect_term or depth:
        raise DomainError("DataError", f'syntax error in tsquery: "{query}"')
    return _binary_not(" ".join(out))


def _binary_not(fts: str) -> str:
    """`AND NOT x` is FTS5's form; a leading or lone NOT needs a left operand."""
    fts = fts.replace("AND NOT", "NOT")
    if fts.startswith("NOT"):
        raise DomainError("DataError", "a query cannot start with a negation on SQLite")
    return fts


def sqlite_fulltext(model, key: str, query_text: str):
    """(match clause, (headline, rank)) for one `info` key, as fulltext_clause returns."""
    kind = model.__tablename__
    if kind not in INDEXED:
        raise DomainError("DataError", f"full-text search is not available on {kind}")
    fts = to_fts5(query_text)
    matches = and_(
        text("info_fts MATCH :fts_query").bindparams(fts_query=fts),
        info_fts.c.kind == kind,
        info_fts.c.key == key,
    )
    ids = select(info_fts.c.obj_id).where(matches)
    headline = (
        select(func.highlight(literal_column("info_fts"), 3, "<b>", "</b>"))
        .where(matches, info_fts.c.obj_id == model.id)
        .limit(1)
        .scalar_subquery()
    )
    rank = (
        select(-func.bm25(literal_column("info_fts")))
        .where(matches, info_fts.c.obj_id == model.id)
        .limit(1)
        .scalar_subquery()
    )
    return model.id.in_(ids), (headline, rank)
