"""The `csv` importer: a CSV file from a URL (a Google Sheets link too) or an upload.

The header row names the columns; `quorum`, `calibration`, `priority_0`, `n_answers` and
`user_pref` become task fields and every other column goes into `info` (behavior.md 10). Cells
keep their text, except whole numbers, which become integers, and decimals, which become floats;
blank cells stay empty strings (decision 13).
"""

import csv
import io
import json
import re
from collections.abc import Iterator

from core.hookspecs import hookimpl
from core.inputs import json_storable
from core.services.importer import ImporterError, ImportField, open_source

INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
SHEETS = re.compile(r"^https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
CONTENT_TYPES = ("text/csv", "text/plain")
MALFORMED = "The file you uploaded is a malformed CSV."


def cell_value(text: str):
    """A cell as decision 13 reads it: integers and decimals as numbers, the rest as text."""
    # A whole number too large for a JSON column keeps its text (20 characters hold any
    # that fits, and int() refuses thousands of digits).
    if INTEGER.fullmatch(text) and len(text) <= 20 and json_storable(number := int(text)):
        return number
    if DECIMAL.fullmatch(text):
        return float(text)
    return text


def sheet_csv_url(url: str) -> str:
    """A Google Sheets share or edit link as its CSV export link; other URLs unchanged."""
    match = SHEETS.match(url.strip())
    if match is None or "export?format=csv" in url or "output=csv" in url:
        return url
    return f"https://docs.google.com/spreadsheets/d/{match.group(1)}/export?format=csv"


def _header(row: list[str]) -> list[str]:
    names = [name.strip() for name in row]
    for number, name in enumerate(names, start=1):
        if not name:
            raise ImporterError(f"The file you uploaded has an empty header on column {number}.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ImporterError(
            f"The file you uploaded has two headers with the same name: {', '.join(duplicates)}."
        )
    return names


def _record(names: list[str], row: list[str]) -> dict:
    record = {}
    for name, text in zip(names, row + [""] * (len(names) - len(row)), strict=True):
        if name == "user_pref" and text.strip():
            try:
                record[name] = json.loads(text)
            except ValueError:
                raise ImporterError(f"user_pref must be a JSON object, not {text!r}.") from None
        else:
            record[name] = cell_value(text)
    return record


def parse_csv(stream) -> Iterator[dict]:
    """One record per data row of a UTF-8 CSV byte stream (a byte-order mark is allowed)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    rows = csv.reader(text, strict=True)
    try:
        header = next(rows, None)
        if not header:
            raise ImporterError("The file is empty: a CSV needs a header row.")
        names = _header(header)
        for row in rows:
            if not row:
                continue
            if len(row) > len(names):
                raise ImporterError(f"{MALFORMED} Line {rows.line_num} has too many cells.")
            yield _record(names, row)
    except csv.Error as error:
        raise ImporterError(f"{MALFORMED} ({error})") from None
    except UnicodeDecodeError:
        raise ImporterError("The file is not UTF-8 text.") from None
    finally:
        text.close()


class CSVImporter:
    """Tasks from the rows of a CSV file."""

    name = "csv"
    title = "CSV file"
    description = "A CSV file with a header row, from a URL (or a Google Sheets link) or a file."
    fields = (
        ImportField("csv_url", "CSV URL", "url", "A link to a CSV file or a Google Sheets sheet."),
        ImportField("csv_file", "Or upload a CSV file", "file"),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        url = values.get("csv_url")
        values = {**values, "csv_url": sheet_csv_url(url) if url else url}
        stream = open_source(values, settings, "csv_url", "csv_file", CONTENT_TYPES)
        yield from parse_csv(stream)


@hookimpl
def crowdnest_importers():
    return {"csv": CSVImporter()}
