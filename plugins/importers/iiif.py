"""The `iiif` importer: one task per image of each canvas of a IIIF Presentation manifest.

Versions 2 (`sequences` → `canvases` → `images`) and 3 (`items` → annotation pages →
`painting` annotations) are read from the manifest itself. Each image gives
`info = {tileSource, target, manifest, link, url, url_m, url_b, label}`: its IIIF Image API
`info.json`, the canvas id, the manifest URL, the canvas in a viewer
(`importer.iiif.viewer_url`), the full image and its 240 and 1024 pixel wide versions.
"""

from collections.abc import Iterator
from urllib.parse import quote

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, fetch_json

SERVICE = "The IIIF manifest"
FIELD = "manifest_uri"


def _id(item) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return item.get("id") or item.get("@id")
    return None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def label_text(label) -> str:
    """A label as text: v2 gives a string (or {@value}s), v3 a language map {"en": [...]}."""
    if isinstance(label, str):
        return label
    if isinstance(label, list):
        return " ".join(filter(None, (label_text(part) for part in label)))
    if isinstance(label, dict):
        if "@value" in label:
            return str(label["@value"])
        for values in label.values():
            return label_text(values)
    return ""


def _image_service(resource: dict) -> tuple[str | None, int]:
    """The image's IIIF Image API base URL and its major version."""
    for service in _as_list(resource.get("service")):
        base = _id(service)
        if base:
            kind = " ".join(
                str(service.get(k, "")) for k in ("type", "@type", "@context", "profile")
            )
            version = 3 if "ImageService3" in kind or "image/3" in kind else 2
            return base.rstrip("/"), version
    return None, 2


def _image_info(resource: dict) -> dict:
    url = _id(resource)
    base, version = _image_service(resource)
    if base is None:
        if not url:
            raise ImporterError(f"{SERVICE} has an image without an id.", FIELD)
        return {
            "tileSource": {"type": "image", "url": url},
            "url": url,
            "url_m": url,
            "url_b": url,
        }
    full = "max" if version == 3 else "full"
    return {
        "tileSource": f"{base}/info.json",
        "url": f"{base}/full/{full}/0/default.jpg",
        "url_m": f"{base}/full/240,/0/default.jpg",
        "url_b": f"{base}/full/1024,/0/default.jpg",
    }


def canvases(manifest: dict) -> Iterator[tuple[dict, list[dict]]]:
    """(canvas, its image resources), in the manifest's order, for versions 2 and 3."""
    if "sequences" in manifest:
        for sequence in _as_list(manifest["sequences"]):
            for canvas in _as_list(sequence.get("canvases")):
                images = [image.get("resource") for image in _as_list(canvas.get("images"))]
                yield canvas, [image for image in images if isinstance(image, dict)]
        return
    for canvas in _as_list(manifest.get("items")):
        if not isinstance(canvas, dict) or canvas.get("type") != "Canvas":
            continue
        images = []
        for page in _as_list(canvas.get("items")):
            for annotation in _as_list(page.get("items") if isinstance(page, dict) else None):
                for body in _as_list(annotation.get("body")):
                    # A choice offers alternative images: the first is the default one.
                    if isinstance(body, dict) and body.get("type") == "Choice":
                        body = (_as_list(body.get("items")) or [None])[0]
                    if isinstance(body, dict) and body.get("type", "Image") == "Image":
                        images.append(body)
        yield canvas, images


def viewer_link(viewer: str, manifest_url: str, index: int) -> str:
    return f"{viewer}?manifest={quote(manifest_url, safe='')}#?cv={index}"


class IIIFImporter:
    """Tasks from the canvases of a IIIF manifest."""

    name = "iiif"
    title = "IIIF manifest"
    description = "One task per image of each canvas of a IIIF Presentation manifest (v2 or v3)."
    fields = (ImportField(FIELD, "Manifest URL", "url", "The URL of a IIIF manifest."),)

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        manifest_url = (values.get(FIELD) or "").strip()
        manifest = fetch_json(manifest_url, settings, FIELD, SERVICE)
        kind = (
            manifest.get("type") or manifest.get("@type") if isinstance(manifest, dict) else None
        )
        if kind not in ("Manifest", "sc:Manifest"):
            raise ImporterError(f"{SERVICE}: the URL does not serve a IIIF manifest.", FIELD)
        viewer = settings["importer.iiif.viewer_url"]
        manifest_id = _id(manifest) or manifest_url
        for index, (canvas, images) in enumerate(canvases(manifest)):
            for image in images:
                yield {
                    **_image_info(image),
                    "target": _id(canvas),
                    "manifest": manifest_id,
                    "link": viewer_link(viewer, manifest_id, index),
                    "label": label_text(canvas.get("label")),
                }


@hookimpl
def crowdnest_settings():
    return {
        "importer.iiif.viewer_url": ("https://universalviewer.io/uv.html", str),
    }


@hookimpl
def crowdnest_importers():
    return {"iiif": IIIFImporter()}
