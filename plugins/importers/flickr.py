"""The `flickr` importer: one task per photo of a Flickr album (a photoset).

Calls flickr.photosets.getPhotos on `importer.flickr.api_url` with the server's
`importer.flickr.api_key`, every page. Each photo gives
`info = {title, url, url_m, url_b, link}`: the photo, its 240 and 1024 pixel versions (on
`importer.flickr.photo_url`) and its page on Flickr.
"""

import re
from collections.abc import Iterator

from core.hookspecs import hookimpl
from core.inputs import ascii_digits
from core.services.importer import ImporterError, ImportField, api_url, fetch_json, setting

SERVICE = "Flickr"
FIELD = "album_id"
PER_PAGE = 500
ALBUM_IN_LINK = re.compile(r"/(?:albums|sets)/([0-9]+)")


def album_id(text: str | None) -> str:
    """The album's id, typed alone or inside its link (…/photos/<user>/albums/<id>)."""
    text = (text or "").strip()
    match = ALBUM_IN_LINK.search(text)
    album = match.group(1) if match else text
    if not ascii_digits(album):
        raise ImporterError("Please give the album's number or its link.", FIELD)
    return album


def photo_urls(photo: dict, owner: str, base: str) -> dict:
    """Where a photo is: Flickr's static URL scheme, and its page."""
    stem = f"{base.rstrip('/')}/{photo['server']}/{photo['id']}_{photo['secret']}"
    return {
        "url": f"{stem}.jpg",
        "url_m": f"{stem}_m.jpg",
        "url_b": f"{stem}_b.jpg",
        "link": f"https://www.flickr.com/photos/{owner}/{photo['id']}",
    }


class FlickrImporter:
    """Tasks from the photos of a Flickr album."""

    name = "flickr"
    title = "Flickr album"
    description = "One task per photo of a public Flickr album."
    fields = (ImportField(FIELD, "Album", "text", "The album's number or its link."),)

    def _page(self, settings: dict, key: str, album: str, page: int) -> dict:
        url = api_url(
            settings["importer.flickr.api_url"],
            method="flickr.photosets.getPhotos",
            api_key=key,
            photoset_id=album,
            page=page,
            per_page=PER_PAGE,
            format="json",
            nojsoncallback=1,
        )
        answer = fetch_json(url, settings, FIELD, SERVICE)
        if not isinstance(answer, dict):
            raise ImporterError(f"{SERVICE} answered something unexpected.", FIELD)
        if answer.get("stat") != "ok":
            message = answer.get("message") or "unknown error"
            raise ImporterError(f"{SERVICE}: {message}", FIELD)
        photoset = answer.get("photoset")
        if not isinstance(photoset, dict) or not isinstance(photoset.get("photo"), list):
            raise ImporterError(f"{SERVICE} answered something unexpected.", FIELD)
        return photoset

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        album = album_id(values.get(FIELD))
        key = setting(settings, "importer.flickr.api_key", SERVICE, FIELD)
        base = settings["importer.flickr.photo_url"]
        page, pages = 1, 1
        while page <= pages:
            photoset = self._page(settings, key, album, page)
            pages = int(photoset.get("pages") or 1)
            owner = photoset.get("owner", "")
            if not photoset["photo"]:
                return
            for photo in photoset["photo"]:
                try:
                    urls = photo_urls(photo, owner, base)
                except (KeyError, TypeError):
                    raise ImporterError(
                        f"{SERVICE} answered a photo without its id.", FIELD
                    ) from None
                yield {"title": photo.get("title", ""), **urls}
            page += 1


@hookimpl
def crowdnest_settings():
    return {
        "importer.flickr.api_url": ("https://api.flickr.com/services/rest/", str),
        "importer.flickr.photo_url": ("https://live.staticflickr.com/", str),
        "importer.flickr.api_key": ("", str),
    }


@hookimpl
def crowdnest_importers():
    return {"flickr": FlickrImporter()}
