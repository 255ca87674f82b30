"""The importers of web sources (gdocs, iiif, s3, dropbox, flickr, epicollect, youtube, twitter)
against a local server that answers like each real API; nothing here reaches the internet."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from core.models import Task
from core.plugins import get_plugin_manager
from core.services.importer import ImporterError, enabled_importers, import_tasks
from core.settings import load_settings
from plugins.importers.dropbox import DropboxImporter
from plugins.importers.epicollect import EpicollectImporter
from plugins.importers.flickr import FlickrImporter
from plugins.importers.gdocs import GoogleSheetsImporter
from plugins.importers.iiif import IIIFImporter
from plugins.importers.s3 import S3Importer
from plugins.importers.twitter import TwitterImporter
from plugins.importers.youtube import YouTubeImporter
from tests.factories import ProjectFactory

REMOTE = "gdocs iiif s3 dropbox flickr epicollect youtube twitter"
SLOW = object()


class FakeAPI:
    """A local HTTP server: routes {path: (status, content type, body) or fn(query, headers)}."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                api.requests.append((parts.path, query, dict(self.headers)))
                answer = api.routes.get(parts.path, (404, "text/plain", b"missing"))
                if callable(answer):
                    answer = answer(query, self.headers)
                if answer is SLOW:
                    time.sleep(3)
                    answer = (200, "application/json", b"[]")
                status, content_type, body = answer
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def json(self, path: str, body, status: int = 200) -> None:
        self.routes[path] = (status, "application/json; charset=utf-8", body)

    def settings(self, **overrides) -> dict:
        """The application's settings with every importer's API on this server."""
        base = {
            "importer.allow_private_urls": "true",
            "importer.timeout": "1",
            "importer.gdocs.export_url": f"{self.url}/sheets/{{key}}.csv?format=csv",
            "importer.s3.bucket_url": f"{self.url}/s3/{{bucket}}/",
            "importer.flickr.api_url": f"{self.url}/flickr/rest/",
            "importer.flickr.api_key": "flickr-key",
            "importer.epicollect.api_url": f"{self.url}/epicollect/entries/",
            "importer.youtube.api_url": f"{self.url}/youtube/v3/",
            "importer.youtube.api_key": "youtube-key",
            "importer.twitter.api_url": f"{self.url}/twitter/2/",
            "importer.twitter.bearer_token": "twitter-token",
        }
        settings = load_settings({"plugins.importers": REMOTE, **base, **overrides}, environ={})
        get_plugin_manager(settings)  # the importers' own settings, as the application has them
        return settings


@pytest.fixture
def fake_api():
    api = FakeAPI()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def records_of(importer, values: dict, settings: dict) -> list[dict]:
    return list(importer.records(values, settings))


def error_of(importer, values: dict, settings: dict) -> ImporterError:
    with pytest.raises(ImporterError) as caught:
        records_of(importer, values, settings)
    return caught.value


def test_every_importer_is_a_plugin_enabled_from_the_settings():
    settings = load_settings({"plugins.importers": f"csv json {REMOTE}"}, environ={})

    importers = enabled_importers(get_plugin_manager(settings))

    assert list(importers) == ["csv", "json", *REMOTE.split()]
    for name, importer in importers.items():
        assert importer.name == name
        assert importer.title and importer.description and importer.fields


# --- gdocs -------------------------------------------------------------------------------------


def test_gdocs_reads_the_sheet_as_csv_from_its_export_url(fake_api):
    fake_api.routes["/sheets/AbC_1-x.csv"] = (200, "text/csv", b"question,n_answers\nA?,2\n")
    link = "https://docs.google.com/spreadsheets/d/AbC_1-x/edit#gid=42"

    records = records_of(GoogleSheetsImporter(), {"googledocs_url": link}, fake_api.settings())

    assert records == [{"question": "A?", "n_answers": 2}]
    assert fake_api.requests[0][:2] == ("/sheets/AbC_1-x.csv", {"format": "csv", "gid": "42"})


def test_gdocs_old_links_name_the_sheet_by_key(fake_api):
    fake_api.routes["/sheets/OLDKEY.csv"] = (200, "text/csv", b"q\n1\n")
    link = "https://spreadsheets.google.com/ccc?key=OLDKEY&hl=en"

    records = records_of(GoogleSheetsImporter(), {"googledocs_url": link}, fake_api.settings())

    assert records == [{"q": 1}]


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("https://example.org/sheet.csv", "link of a Google Sheets"),
        ("https://docs.google.com/document/d/x/edit", "does not name a spreadsheet"),
        ("https://docs.google.com/spreadsheets/d/PRIVATE/edit", "shared with anyone"),
        ("https://docs.google.com/spreadsheets/d/GONE/edit", "HTTP 404"),
    ],
)
def test_gdocs_bad_links_and_private_sheets(fake_api, link, message):
    fake_api.routes["/sheets/PRIVATE.csv"] = (200, "text/html", b"<html>Sign in</html>")

    error = error_of(GoogleSheetsImporter(), {"googledocs_url": link}, fake_api.settings())

    assert message in error.message
    assert error.field == "googledocs_url"


# --- iiif --------------------------------------------------------------------------------------


def manifest_v2(base: str) -> dict:
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": f"{base}/iiif/v2/manifest.json",
        "@type": "sc:Manifest",
        "label": "Letters",
        "sequences": [
            {
                "canvases": [
                    {
                        "@id": f"{base}/iiif/canvas/1",
                        "label": "p. 1",
                        "images": [
                            {
                                "resource": {
                                    "@id": f"{base}/img/1/full/full/0/default.jpg",
                                    "service": {
                                        "@context": "http://iiif.io/api/image/2/context.json",
                                        "@id": f"{base}/img/1",
                                    },
                                }
                            }
                        ],
                    },
                    {
                        "@id": f"{base}/iiif/canvas/2",
                        "label": [{"@value": "p. 2", "@language": "en"}],
                        "images": [{"resource": {"@id": f"{base}/plain.jpg"}}],
                    },
                ]
            }
        ],
    }


def manifest_v3(base: str) -> dict:
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{base}/iiif/v3/manifest.json",
        "type": "Manifest",
        "label": {"en": ["Maps"]},
        "items": [
            {
                "id": f"{base}/iiif/v3/canvas/1",
                "type": "Canvas",
                "label": {"none": ["Sheet 1"]},
                "items": [
                    {
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "type": "Annotation",
                                "motivation": "painting",
                                "body": {
                                    "id": f"{base}/img3/1/full/max/0/default.jpg",
                                    "type": "Image",
                                    "service": [
                                        {"id": f"{base}/img3/1/", "type": "ImageService3"}
                                    ],
                                },
                                "target": f"{base}/iiif/v3/canvas/1",
                            }
                        ],
                    }
                ],
            }
        ],
    }


def test_iiif_v2_gives_one_task_per_canvas_image(fake_api):
    base = fake_api.url
    fake_api.json("/iiif/v2/manifest.json", manifest_v2(base))
    url = f"{base}/iiif/v2/manifest.json"

    first, second = records_of(IIIFImporter(), {"manifest_uri": url}, fake_api.settings())

    viewer = "https://universalviewer.io/uv.html?manifest=http%3A%2F%2F127.0.0.1"
    assert first == {
        "tileSource": f"{base}/img/1/info.json",
        "url": f"{base}/img/1/full/full/0/default.jpg",
        "url_m": f"{base}/img/1/full/240,/0/default.jpg",
        "url_b": f"{base}/img/1/full/1024,/0/default.jpg",
        "target": f"{base}/iiif/canvas/1",
        "manifest": url,
        "link": first["link"],
        "label": "p. 1",
    }
    assert first["link"].startswith(viewer) and first["link"].endswith("#?cv=0")
    assert second["url"] == second["url_m"] == f"{base}/plain.jpg"
    assert second["tileSource"] == {"type": "image", "url": f"{base}/plain.jpg"}
    assert (second["label"], second["link"][-6:]) == ("p. 2", "#?cv=1")


def test_iiif_v3_reads_annotation_pages_and_image_service_3(fake_api, db):
    base = fake_api.url
    fake_api.json("/iiif/v3/manifest.json", manifest_v3(base))
    project = ProjectFactory()
    values = {"manifest_uri": f"{base}/iiif/v3/manifest.json"}

    report = import_tasks(db, project, IIIFImporter().records(values, fake_api.settings()))
    db.commit()

    (task,) = db.scalars(select(Task).where(Task.project_id == project.id))
    assert report.created == 1
    assert task.info["url"] == f"{base}/img3/1/full/max/0/default.jpg"
    assert task.info["tileSource"] == f"{base}/img3/1/info.json"
    assert (task.info["label"], task.info["target"]) == ("Sheet 1", f"{base}/iiif/v3/canvas/1")


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ((200, "application/json", {"@type": "sc:Collection"}), "does not serve a IIIF manifest"),
        ((200, "application/json", b"{not json"), "not JSON"),
        ((200, "text/html", b"<html></html>"), "does not serve application/json"),
        ((404, "application/json", {"error": "nope"}), "HTTP 404"),
    ],
)
def test_iiif_bad_answers_are_clear_errors(fake_api, route, message):
    fake_api.routes["/m.json"] = route

    error = error_of(
        IIIFImporter(), {"manifest_uri": f"{fake_api.url}/m.json"}, fake_api.settings()
    )

    assert message in error.message
    assert error.message.startswith("The IIIF manifest")
    assert error.field == "manifest_uri"


# --- s3 ----------------------------------------------------------------------------------------

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def listing(keys: list[str], truncated: bool = False) -> bytes:
    contents = "".join(f"<Contents><Key>{key}</Key><Size>1</Size></Contents>" for key in keys)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{S3_NS}">'
        f"<Name>b</Name><IsTruncated>{str(truncated).lower()}</IsTruncated>{contents}"
        "</ListBucketResult>"
    ).encode()


def test_s3_lists_every_page_and_describes_each_file(fake_api):
    def bucket(query, headers):
        if query.get("marker") == "photos/b.png":
            return (200, "application/xml", listing(["sounds/c.mp3", "doc.pdf", "notes.txt"]))
        return (
            200,
            "application/xml",
            listing(["photos/", "photos/a b.jpg", "photos/b.png"], True),
        )

    fake_api.routes["/s3/my-bucket/"] = bucket
    base = f"{fake_api.url}/s3/my-bucket/"

    records = records_of(S3Importer(), {"bucket": "my-bucket"}, fake_api.settings())

    assert [record["filename"] for record in records] == [
        "photos/a b.jpg",
        "photos/b.png",
        "sounds/c.mp3",
        "doc.pdf",
        "notes.txt",
    ]
    url = f"{base}photos/a%20b.jpg"
    assert records[0] == {
        "filename": "photos/a b.jpg",
        "url": url,
        "link": url,
        "url_m": url,
        "url_b": url,
        "title": "photos/a b.jpg",
    }
    assert records[2]["audio_url"] == f"{base}sounds/c.mp3"
    assert records[3]["pdf_url"] == f"{base}doc.pdf"
    assert set(records[4]) == {"filename", "url", "link"}


def test_s3_filters_by_extension_and_by_chosen_files(fake_api):
    fake_api.routes["/s3/bk1/"] = (200, "application/xml", listing(["a.JPG", "b.png", "c.txt"]))
    settings = fake_api.settings()

    by_type = records_of(S3Importer(), {"bucket": "bk1", "extensions": "jpg, .png"}, settings)
    chosen = records_of(
        S3Importer(), {"bucket": f"{fake_api.url}/s3/bk1", "files": "c.txt"}, settings
    )

    assert [record["filename"] for record in by_type] == ["a.JPG", "b.png"]
    assert [record["filename"] for record in chosen] == ["c.txt"]


@pytest.mark.parametrize(
    ("bucket", "route", "message"),
    [
        ("Not A Bucket!", None, "Please give a bucket name"),
        ("gone", None, "HTTP 404"),
        (
            "private",
            (403, "application/xml", b"<Error><Code>AccessDenied</Code></Error>"),
            "permission",
        ),
        ("other", (200, "application/xml", b"<Error><Code>x</Code></Error>"), "does not list"),
        ("garbage", (200, "application/xml", b"<ListBucketResult><oops"), "not XML"),
    ],
)
def test_s3_bad_buckets_are_clear_errors(fake_api, bucket, route, message):
    if route is not None:
        fake_api.routes[f"/s3/{bucket}/"] = route

    error = error_of(S3Importer(), {"bucket": bucket}, fake_api.settings())

    assert message in error.message
    assert error.field == "bucket"


# --- dropbox -----------------------------------------------------------------------------------


def test_dropbox_turns_chooser_files_into_tasks_with_direct_links():
    files = [
        {"link": "https://www.dropbox.com/s/abc/cat.jpg?dl=0", "name": "cat.jpg", "bytes": 9},
        json.dumps({"link": "https://www.dropbox.com/s/def/clip.mp4?dl=0", "name": "clip.mp4"}),
    ]

    cat, clip = records_of(DropboxImporter(), {"files": json.dumps(files)}, {})

    assert cat == {
        "filename": "cat.jpg",
        "link": "https://www.dropbox.com/s/abc/cat.jpg?dl=0",
        "link_raw": "https://www.dropbox.com/s/abc/cat.jpg?raw=1",
        "url_m": "https://dl.dropboxusercontent.com/s/abc/cat.jpg",
        "url_b": "https://dl.dropboxusercontent.com/s/abc/cat.jpg",
        "title": "cat.jpg",
    }
    assert clip["video_url"] == "https://dl.dropboxusercontent.com/s/def/clip.mp4"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ("", "Dropbox Chooser"),
        ("not json", "Dropbox Chooser"),
        ("[]", "Dropbox Chooser"),
        ('[{"name": "x.jpg"}]', "File 1 has no http(s) link"),
        ('[{"link": "javascript:alert(1)"}]', "File 1 has no http(s) link"),
    ],
)
def test_dropbox_bad_chooser_answers(files, message):
    error = error_of(DropboxImporter(), {"files": files}, {})

    assert message in error.message
    assert error.field == "files"


# --- flickr ------------------------------------------------------------------------------------


def photoset_page(page: int, pages: int, ids: list[str]) -> dict:
    photos = [{"id": i, "secret": f"s{i}", "server": "65", "title": f"Photo {i}"} for i in ids]
    return {
        "photoset": {
            "id": "72157",
            "owner": "12@N01",
            "photo": photos,
            "page": page,
            "pages": pages,
        },
        "stat": "ok",
    }


def test_flickr_reads_every_page_of_the_album(fake_api):
    def rest(query, headers):
        page = int(query["page"])
        return (
            200,
            "application/json",
            photoset_page(page, 2, ["1", "2"] if page == 1 else ["3"]),
        )

    fake_api.routes["/flickr/rest/"] = rest
    link = "https://www.flickr.com/photos/someone/albums/72157"

    records = records_of(FlickrImporter(), {"album_id": link}, fake_api.settings())

    assert [record["title"] for record in records] == ["Photo 1", "Photo 2", "Photo 3"]
    assert records[0] == {
        "title": "Photo 1",
        "url": "https://live.staticflickr.com/65/1_s1.jpg",
        "url_m": "https://live.staticflickr.com/65/1_s1_m.jpg",
        "url_b": "https://live.staticflickr.com/65/1_s1_b.jpg",
        "link": "https://www.flickr.com/photos/12@N01/1",
    }
    query = fake_api.requests[0][1]
    assert query["method"] == "flickr.photosets.getPhotos"
    assert (query["api_key"], query["photoset_id"], query["format"]) == (
        "flickr-key",
        "72157",
        "json",
    )


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            (
                200,
                "application/json",
                {"stat": "fail", "code": 1, "message": "Photoset not found"},
            ),
            "Flickr: Photoset not found",
        ),
        ((200, "application/json", b"jsonFlickrApi({})"), "not JSON"),
        (
            (200, "application/json", {"stat": "ok", "photoset": {"photo": [{"title": "x"}]}}),
            "without its id",
        ),
        ((500, "text/html", b"<h1>oops</h1>"), "HTTP 500"),
        (SLOW, "could not be fetched"),
    ],
)
def test_flickr_failures_are_clear_errors(fake_api, route, message):
    fake_api.routes["/flickr/rest/"] = (lambda query, headers: SLOW) if route is SLOW else route

    error = error_of(FlickrImporter(), {"album_id": "72157"}, fake_api.settings())

    assert message in error.message
    assert error.field == "album_id"


def test_flickr_needs_an_api_key_and_an_album(fake_api):
    settings = fake_api.settings(**{"importer.flickr.api_key": ""})

    no_key = error_of(FlickrImporter(), {"album_id": "1"}, settings)
    no_album = error_of(FlickrImporter(), {"album_id": "my holidays"}, fake_api.settings())

    assert "importer.flickr.api_key" in no_key.message
    assert "album's number" in no_album.message
    assert fake_api.requests == []


# --- epicollect --------------------------------------------------------------------------------


def test_epicollect_reads_every_page_of_entries(fake_api):
    def entries(query, headers):
        page = int(query["page"])
        rows = [{"ec5_uuid": "a", "1_Bird": "robin"}] if page == 1 else [{"ec5_uuid": "b"}]
        return (200, "application/json", {"meta": {"last_page": 2}, "data": {"entries": rows}})

    fake_api.routes["/epicollect/entries/bird-survey"] = entries
    values = {"epicollect_project": "Bird Survey", "epicollect_form": "form-ref-1"}

    records = records_of(EpicollectImporter(), values, fake_api.settings())

    assert records == [{"ec5_uuid": "a", "1_Bird": "robin"}, {"ec5_uuid": "b"}]
    assert fake_api.requests[0][1]["form_ref"] == "form-ref-1"


def test_epicollect_errors_say_what_the_api_said(fake_api):
    answer = {"errors": [{"code": "ec5_202", "title": "This project is private."}]}
    fake_api.json("/epicollect/entries/secret", answer, status=404)
    fake_api.json("/epicollect/entries/odd", {"data": "nothing"})
    settings = fake_api.settings()

    private = error_of(EpicollectImporter(), {"epicollect_project": "secret"}, settings)
    odd = error_of(EpicollectImporter(), {"epicollect_project": "odd"}, settings)

    assert private.message == "Epicollect: The URL answered HTTP 404: This project is private."
    assert "unexpected" in odd.message


# --- youtube -----------------------------------------------------------------------------------


def test_youtube_reads_every_page_of_the_playlist(fake_api):
    def items(query, headers):
        video = lambda i: {"snippet": {"title": i, "resourceId": {"videoId": i}}}  # noqa: E731
        if query.get("pageToken") == "NEXT":
            return (200, "application/json", {"items": [video("v3")]})
        deleted = {"snippet": {"title": "Deleted video", "resourceId": {}}}
        return (
            200,
            "application/json",
            {"items": [video("v1"), deleted, video("v2")], "nextPageToken": "NEXT"},
        )

    fake_api.routes["/youtube/v3/playlistItems"] = items
    url = "https://www.youtube.com/playlist?list=PL123"

    records = records_of(YouTubeImporter(), {"playlist_url": url}, fake_api.settings())

    assert [record["video_url"] for record in records] == [
        "https://www.youtube.com/watch?v=v1",
        "https://www.youtube.com/watch?v=v2",
        "https://www.youtube.com/watch?v=v3",
    ]
    assert 'src="https://www.youtube.com/embed/v1"' in records[0]["oembed"]
    query = fake_api.requests[0][1]
    assert (query["playlistId"], query["key"], query["maxResults"]) == (
        "PL123",
        "youtube-key",
        "50",
    )


def test_youtube_errors(fake_api):
    answer = {
        "error": {
            "code": 404,
            "message": "The playlist identified with the request's playlistId parameter "
            "cannot be found.",
        }
    }
    fake_api.json("/youtube/v3/playlistItems", answer, status=404)
    settings = fake_api.settings()

    missing = error_of(
        YouTubeImporter(), {"playlist_url": "https://youtube.com/playlist?list=X"}, settings
    )
    not_youtube = error_of(
        YouTubeImporter(), {"playlist_url": "https://example.org/?list=X"}, settings
    )

    assert "cannot be found" in missing.message and missing.message.startswith("YouTube")
    assert "link of a YouTube playlist" in not_youtube.message


# --- twitter -----------------------------------------------------------------------------------


def test_twitter_searches_recent_tweets_with_the_bearer_token(fake_api):
    def search(query, headers):
        if headers.get("Authorization") != "Bearer twitter-token":
            return (401, "application/json", {"title": "Unauthorized"})
        if query.get("next_token") == "P2":
            tweets, meta = [{"id": "3", "text": "c", "author_id": "9"}], {}
        else:
            tweets = [
                {"id": "1", "text": "a", "author_id": "9"},
                {"id": "2", "text": "b", "author_id": "9"},
            ]
            meta = {"next_token": "P2"}
        users = [{"id": "9", "username": "nasa", "name": "NASA"}]
        return (
            200,
            "application/json",
            {"data": tweets, "includes": {"users": users}, "meta": meta},
        )

    fake_api.routes["/twitter/2/tweets/search/recent"] = search

    records = records_of(
        TwitterImporter(), {"source": "@nasa", "max_tweets": "3"}, fake_api.settings()
    )
    limited = records_of(
        TwitterImporter(), {"source": "#moon", "max_tweets": "1"}, fake_api.settings()
    )

    assert records == [
        {"id": "1", "text": "a", "author_id": "9", "user_screen_name": "nasa"},
        {"id": "2", "text": "b", "author_id": "9", "user_screen_name": "nasa"},
        {"id": "3", "text": "c", "author_id": "9", "user_screen_name": "nasa"},
    ]
    assert [record["id"] for record in limited] == ["1"]
    assert fake_api.requests[0][1]["query"] == "from:nasa -is:retweet"
    assert fake_api.requests[-1][1]["query"] == "#moon -is:retweet"
    assert fake_api.requests[-1][1]["max_results"] == "10"


def test_twitter_errors(fake_api):
    fake_api.json("/twitter/2/tweets/search/recent", {"title": "Unauthorized", "status": 401}, 401)
    settings = fake_api.settings()

    refused = error_of(TwitterImporter(), {"source": "x"}, settings)
    bad_max = error_of(TwitterImporter(), {"source": "x", "max_tweets": "lots"}, settings)
    no_token = error_of(
        TwitterImporter(),
        {"source": "x"},
        fake_api.settings(**{"importer.twitter.bearer_token": ""}),
    )

    assert "permission" in refused.message and refused.message.startswith("Twitter")
    assert bad_max.field == "max_tweets"
    assert "importer.twitter.bearer_token" in no_token.message


# --- all or nothing ----------------------------------------------------------------------------


def test_a_failure_on_a_later_page_imports_nothing(fake_api, db):
    def rest(query, headers):
        if query["page"] == "1":
            return (200, "application/json", photoset_page(1, 2, [str(i) for i in range(600)]))
        return (502, "text/html", b"bad gateway")

    fake_api.routes["/flickr/rest/"] = rest
    project = ProjectFactory()
    db.commit()

    with pytest.raises(ImporterError, match="HTTP 502"):
        import_tasks(db, project, FlickrImporter().records({"album_id": "1"}, fake_api.settings()))
    db.commit()

    assert db.scalars(select(Task).where(Task.project_id == project.id)).all() == []
