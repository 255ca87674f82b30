"""The `dropbox` importer: one task per file picked with the Dropbox Chooser.

The form posts the Chooser's answer: a JSON list of files, each an object with at least `link`
and `name` (a list of JSON strings, as older pages send, works too). Each file gives
`info = {filename, link, link_raw}` plus the keys of its kind of file, pointing at its direct
download (plugins/importers/media.py). Nothing is fetched: the links are the Chooser's.
"""

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField
from plugins.importers.media import media_info

DIRECT_HOST = "dl.dropboxusercontent.com"
SHARE_HOSTS = ("www.dropbox.com", "dropbox.com")


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in changes]
    query += [(k, v) for k, v in changes.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def raw_link(link: str) -> str:
    """A share link that shows the file itself (`raw=1`) rather than Dropbox's preview page."""
    return _with_query(link, dl=None, raw="1")


def direct_link(link: str) -> str:
    """A share link as its direct download on dl.dropboxusercontent.com."""
    parts = urlsplit(link)
    if parts.hostname in SHARE_HOSTS:
        parts = parts._replace(netloc=DIRECT_HOST)
    return _with_query(urlunsplit(parts), dl=None, raw=None)


def chosen_files(text: str | None) -> list[dict]:
    """The Chooser's files: [{link, name, ...}], from its JSON answer."""
    try:
        files = json.loads(text or "")
    except ValueError:
        raise ImporterError("Please choose files with the Dropbox Chooser.", "files") from None
    if isinstance(files, dict):
        files = [files]
    if not isinstance(files, list) or not files:
        raise ImporterError("Please choose files with the Dropbox Chooser.", "files")
    chosen = []
    for number, item in enumerate(files, start=1):
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                item = None
        link = item.get("link") if isinstance(item, dict) else None
        if not isinstance(link, str) or urlsplit(link).scheme not in ("http", "https"):
            raise ImporterError(f"File {number} has no http(s) link.", "files")
        name = item.get("name") or urlsplit(link).path.rsplit("/", 1)[-1]
        chosen.append({"link": link, "name": str(name)})
    return chosen


class DropboxImporter:
    """Tasks from files picked in a Dropbox account."""

    name = "dropbox"
    title = "Dropbox"
    description = "One task per file chosen with the Dropbox Chooser."
    fields = (
        ImportField(
            "files", "Files", "text", "The Dropbox Chooser's answer: a JSON list of files."
        ),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        for item in chosen_files(values.get("files")):
            link, name = item["link"], item["name"]
            info = {"filename": name, "link": link, "link_raw": raw_link(link)}
            yield {**info, **media_info(name, direct_link(link))}


@hookimpl
def crowdnest_importers():
    return {"dropbox": DropboxImporter()}
