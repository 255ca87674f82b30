"""The `gdocs` importer: a Google Sheets spreadsheet, read as CSV (the csv importer's rules).

The share or edit link names the sheet; it is fetched from `importer.gdocs.export_url`
("https://docs.google.com/spreadsheets/d/{key}/export?format=csv"), with the tab (`gid`) the
link shows. The sheet must be shared with "anyone with the link".
"""

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, open_url
from plugins.importers.csv import CONTENT_TYPES, parse_csv

KEY_IN_PATH = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
KEY_IN_QUERY = re.compile(r"[?&]key=([A-Za-z0-9_-]+)")
GID = re.compile(r"[?&#]gid=([0-9]+)")
GOOGLE_HOSTS = ("docs.google.com", "spreadsheets.google.com")


def export_url(link: str, settings: dict) -> str:
    """The CSV export URL of a Google Sheets share/edit link (new and old `ccc?key=` forms)."""
    link = (link or "").strip()
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or parts.hostname not in GOOGLE_HOSTS:
        raise ImporterError(
            "Please give the link of a Google Sheets spreadsheet.", "googledocs_url"
        )
    match = KEY_IN_PATH.search(parts.path) or KEY_IN_QUERY.search(link)
    if match is None:
        raise ImporterError("This Google link does not name a spreadsheet.", "googledocs_url")
    url = settings["importer.gdocs.export_url"].format(key=match.group(1))
    gid = GID.search(link)
    return f"{url}&gid={gid.group(1)}" if gid else url


class GoogleSheetsImporter:
    """Tasks from the rows of a Google Sheets spreadsheet."""

    name = "gdocs"
    title = "Google Sheets"
    description = "A spreadsheet shared with anyone who has the link; the first row names columns."
    fields = (
        ImportField(
            "googledocs_url", "Spreadsheet link", "url", "The sheet's share or edit link."
        ),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        url = export_url(values.get("googledocs_url"), settings)
        try:
            stream = open_url(url, settings, "googledocs_url", CONTENT_TYPES)
        except ImporterError as error:
            # A sheet not shared publicly answers with Google's sign-in page (HTML).
            if "does not serve" in error.message:
                raise ImporterError(
                    "Google did not give the sheet as CSV: is it shared with anyone who has "
                    "the link?",
                    "googledocs_url",
                ) from None
            raise
        yield from parse_csv(stream)


@hookimpl
def crowdnest_settings():
    return {
        "importer.gdocs.export_url": (
            "https://docs.google.com/spreadsheets/d/{key}/export?format=csv",
            str,
        ),
    }


@hookimpl
def crowdnest_importers():
    return {"gdocs": GoogleSheetsImporter()}
