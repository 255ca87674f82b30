"""The `s3` importer: one task per object of a public Amazon S3 bucket (or any S3-compatible
store that lists a bucket anonymously).

The bucket's listing (ListBucketResult XML) is read page by page; each object gives
`info = {filename, url, link}` plus the keys of its kind of file (plugins/importers/media.py).
The bucket URL comes from `importer.s3.bucket_url` ("https://{bucket}.s3.amazonaws.com/"), or is
typed in whole.
"""

import re
from collections.abc import Iterator
from urllib.parse import quote

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, api_url, fetch_xml
from plugins.importers.media import extension, media_info, wanted_extensions

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
SERVICE = "The bucket listing"


def bucket_url(text: str, settings: dict) -> str:
    """The bucket's URL, ending in "/", from its name or a URL typed in whole."""
    text = (text or "").strip()
    if text.startswith(("http://", "https://")):
        return text.split("?", 1)[0].rstrip("/") + "/"
    if not BUCKET_NAME.fullmatch(text):
        raise ImporterError("Please give a bucket name (or the bucket's URL).", "bucket")
    return settings["importer.s3.bucket_url"].format(bucket=text).rstrip("/") + "/"


def _children(element, name: str):
    # The listing's tags carry S3's namespace ({http://s3.amazonaws.com/doc/2006-03-01/}Key).
    return [child for child in element if child.tag.rsplit("}", 1)[-1] == name]


def _text(element, name: str) -> str | None:
    found = _children(element, name)
    return found[0].text if found else None


def list_objects(url: str, settings: dict) -> Iterator[str]:
    """The keys of the bucket's objects, every page of the listing, in its order."""
    marker = None
    while True:
        root = fetch_xml(api_url(url, marker=marker), settings, "bucket", SERVICE)
        if root.tag.rsplit("}", 1)[-1] != "ListBucketResult":
            raise ImporterError(f"{SERVICE}: the URL does not list an S3 bucket.", "bucket")
        keys = [_text(item, "Key") for item in _children(root, "Contents")]
        keys = [key for key in keys if key]
        yield from keys
        if (_text(root, "IsTruncated") or "").lower() != "true" or not keys:
            return
        next_marker = _text(root, "NextMarker") or keys[-1]
        if next_marker == marker:
            return
        marker = next_marker


class S3Importer:
    """Tasks from the files of a public S3 bucket."""

    name = "s3"
    title = "Amazon S3 bucket"
    description = "One task per file of a public S3 bucket, optionally only some file types."
    fields = (
        ImportField("bucket", "Bucket", "text", "The bucket's name, or its URL."),
        ImportField("extensions", "File types", "text", "E.g. jpg png; empty imports every file."),
        ImportField(
            "files", "Only these files", "text", "Object keys, comma separated; empty: all."
        ),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        url = bucket_url(values.get("bucket"), settings)
        wanted = wanted_extensions(values.get("extensions"))
        chosen = {key.strip() for key in (values.get("files") or "").split(",") if key.strip()}
        for key in list_objects(url, settings):
            # Keys ending in "/" are the folders of the console, not files.
            if key.endswith("/") or (wanted and extension(key) not in wanted):
                continue
            if chosen and key not in chosen:
                continue
            link = url + quote(key, safe="/~")
            yield {"filename": key, "url": link, "link": link, **media_info(key, link)}


@hookimpl
def crowdnest_settings():
    return {
        "importer.s3.bucket_url": ("https://{bucket}.s3.amazonaws.com/", str),
    }


@hookimpl
def crowdnest_importers():
    return {"s3": S3Importer()}
