"""The `youtube` importer: one task per video of a YouTube playlist.

Lists the playlist with the YouTube Data API (`importer.youtube.api_url`, playlistItems, 50 a
page, every page) and the server's `importer.youtube.api_key`. Each video gives
`info = {video_url, oembed}`: its watch page and the HTML that embeds its player.
"""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, api_url, fetch_json, setting

SERVICE = "YouTube"
FIELD = "playlist_url"
YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")
EMBED = (
    '<iframe width="512" height="288" src="https://www.youtube.com/embed/{id}" '
    'title="YouTube video player" frameborder="0" allowfullscreen></iframe>'
)


def playlist_id(url: str | None) -> str:
    """The `list=` of a YouTube playlist link."""
    parts = urlsplit((url or "").strip())
    playlist = parse_qs(parts.query).get("list", [""])[0]
    if (
        parts.scheme not in ("http", "https")
        or parts.hostname not in YOUTUBE_HOSTS
        or not playlist
    ):
        raise ImporterError("Please give the link of a YouTube playlist (with list=…).", FIELD)
    return playlist


def video_info(video_id: str) -> dict:
    return {
        "video_url": f"https://www.youtube.com/watch?v={video_id}",
        "oembed": EMBED.format(id=video_id),
    }


class YouTubeImporter:
    """Tasks from the videos of a YouTube playlist."""

    name = "youtube"
    title = "YouTube playlist"
    description = "One task per video of a public YouTube playlist."
    fields = (ImportField(FIELD, "Playlist link", "url", "A link with list=… in it."),)

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        playlist = playlist_id(values.get(FIELD))
        key = setting(settings, "importer.youtube.api_key", SERVICE, FIELD)
        token = None
        while True:
            url = api_url(
                settings["importer.youtube.api_url"],
                "playlistItems",
                part="snippet",
                maxResults=50,
                playlistId=playlist,
                pageToken=token,
                key=key,
            )
            answer = fetch_json(url, settings, FIELD, SERVICE)
            items = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise ImporterError(f"{SERVICE} answered something unexpected.", FIELD)
            for item in items:
                snippet = item.get("snippet") if isinstance(item, dict) else None
                resource = (snippet or {}).get("resourceId") or {}
                # Deleted and private videos keep their place in a playlist but have no id.
                if isinstance(resource, dict) and resource.get("videoId"):
                    yield video_info(str(resource["videoId"]))
            token = answer.get("nextPageToken")
            if not token or not items:
                return


@hookimpl
def crowdnest_settings():
    return {
        "importer.youtube.api_url": ("https://www.googleapis.com/youtube/v3/", str),
        "importer.youtube.api_key": ("", str),
    }


@hookimpl
def crowdnest_importers():
    return {"youtube": YouTubeImporter()}
