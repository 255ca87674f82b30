"""What clients may send: integers that fit a column, text a database stores, bounded JSON.

No HTTP here: the API, the web pages, the list queries and the lean delivery path all parse
client values through these functions, so each rule exists once (decisions 14 and 22).
"""

import json
import math
import re

from core.errors import DomainError

# Every id and integer column is a PostgreSQL INTEGER: anything outside names no row, and
# no offset needs more.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# What a JSON column holds: its serializer, orjson, writes 64-bit integers only, and documents
# nested no deeper than this.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
JSON_MAX_DEPTH = 254
# PostgreSQL refuses NUL in text; neither database nor UTF-8 can hold a lone surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def ascii_digits(text: str) -> bool:
    """Whether `text` is ASCII digits only, a number int() reads: str.isdigit() alone also
    takes ², ① and other digits, which int() refuses (a 500 wherever it was trusted)."""
    return text.isascii() and text.isdigit()


def parse_int(value, name: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """`value` (text or int) as an int within [low, high], else 415 DataError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError(
            "DataError", f"invalid input syntax for type integer: {value!r} ({name})"
        ) from None
    if not low <= number <= high:
        raise DomainError("DataError", f"value out of range for type integer: {value!r} ({name})")
    return number


def storable(text: str) -> bool:
    """True when a database can store `text` as it is (no NUL, no lone surrogate)."""
    if text.isascii():
        return "\x00" not in text
    return UNSTORABLE.search(text) is None


def check_text(text: str, name: str) -> str:
    """`text` when storable, else 415 DataError naming where it came from."""
    if not storable(text):
        raise DomainError(
            "DataError", f"{name}: text may not contain NUL characters or lone surrogates"
        )
    return text


def json_storable(number: int) -> bool:
    """True when a JSON column can hold the integer `number`."""
    return JSON_INT_MIN <= number <= JSON_INT_MAX


def check_document(document, max_depth: int, name: str = "body"):
    """`document` when no deeper than max_depth and every key, string and integer storable."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, name)
            continue
        if isinstance(value, int) and not json_storable(value):
            raise DomainError("DataError", f"{name}: integer out of range: {value}")
        if isinstance(value, float) and not math.isfinite(value):
            # 1e400 reads as inf, which a JSON column cannot hold (it was stored as null).
            raise DomainError("DataError", f"{name}: number out of range: {value}")
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            raise DomainError("ValueError", f"Invalid JSON: nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(key, name)
                pending.append((item, depth + 1))
        else:
            pending.extend((item, depth + 1) for item in value)
    return document


def _not_json(constant: str):
    """NaN, Infinity, -Infinity are no JSON (json.loads takes them; they were stored as null)."""
    raise ValueError(f"{constant} is not a JSON value")


def load_json(raw: bytes | str, max_depth: int, name: str = "body"):
    """Parse client JSON: 415 ValueError when undecodable or too deep, DataError on bad text."""
    try:
        document = json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as error:
        raise DomainError("ValueError", f"Invalid JSON: {error}") from None
    except RecursionError:
        raise DomainError(
            "ValueError", f"Invalid JSON: nested deeper than {max_depth} levels"
        ) from None
    return check_document(document, max_depth, name)
