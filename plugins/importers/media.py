"""What the file importers (dropbox, s3) add to a task by the kind of file: a helper module,
not a plugin (it has no entry point)."""

import posixpath

IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".bmp"}
VIDEOS = {".mp4", ".m4v", ".webm", ".ogv", ".mov", ".avi", ".mkv"}
AUDIOS = {".mp3", ".ogg", ".oga", ".wav", ".flac", ".m4a", ".aac"}


def extension(filename: str) -> str:
    return posixpath.splitext(filename.lower())[1]


def media_info(filename: str, url: str) -> dict:
    """The type-specific keys of behavior.md 10: url_m, url_b and title for an image,
    video_url, audio_url or pdf_url for the others, all pointing at the direct `url`."""
    kind = extension(filename)
    if kind in IMAGES:
        return {"url_m": url, "url_b": url, "title": filename}
    if kind in VIDEOS:
        return {"video_url": url}
    if kind in AUDIOS:
        return {"audio_url": url}
    if kind == ".pdf":
        return {"pdf_url": url}
    return {}


def wanted_extensions(text: str | None) -> set[str]:
    """ "jpg, .PNG tif" as {".jpg", ".png", ".tif"}; empty means every file."""
    words = (text or "").replace(",", " ").split()
    return {"." + word.lower().lstrip(".") for word in words}
