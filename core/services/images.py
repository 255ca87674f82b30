"""Avatars and thumbnails: decode an uploaded image with Pillow, crop, shrink, store as PNG.

Domain code: knows nothing of HTTP. Files live under upload.dir/<container>/<name>.png; the
caller keeps `container` and `name` in the object's info (PYBOSSA's `container`/`avatar` keys).
"""

import io
import os
import secrets

from PIL import Image, UnidentifiedImageError

from core.errors import DomainError

# Pillow refuses images larger than this many pixels (decompression bombs).
MAX_PIXELS = 40_000_000


def _crop_box(image: Image.Image, crop) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) clamped to the image; None (or an empty box) keeps the whole image."""
    if not crop:
        return None
    try:
        x1, y1, x2, y2 = (int(float(value)) for value in crop)
    except (TypeError, ValueError):
        raise DomainError("BadRequest", "Invalid crop box") from None
    width, height = image.size
    x1, x2 = sorted((max(0, min(x1, width)), max(0, min(x2, width))))
    y1, y2 = sorted((max(0, min(y1, height)), max(0, min(y2, height))))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return x1, y1, x2, y2


def save_image(
    upload_dir: str, container: str, data: bytes, crop=None, size: int = 512, max_bytes=None
) -> str:
    """Crop (optional), fit within size x size, store as PNG; returns the stored file name."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DomainError("BadRequest", f"File is larger than {max_bytes} bytes")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        raise DomainError("BadRequest", "The file is not an image") from None
    box = _crop_box(image, crop)
    if box is not None:
        image = image.crop(box)
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image.thumbnail((size, size))
    folder = os.path.join(upload_dir, container)
    os.makedirs(folder, exist_ok=True)
    name = f"{secrets.token_hex(8)}.png"
    image.save(os.path.join(folder, name), format="PNG", optimize=True)
    return name


def remove_image(upload_dir: str, container: str | None, name: str | None) -> None:
    """Delete a stored image; names with a path in them are ignored."""
    if not container or not name or os.path.basename(name) != name or "/" in container:
        return
    path = os.path.join(upload_dir, container, name)
    if os.path.isfile(path):
        os.remove(path)


def image_url(request, container: str | None, name: str | None) -> str | None:
    if not container or not name:
        return None
    upload_dir = request.registry.settings["upload.dir"]
    return request.static_url(os.path.join(upload_dir, container, name))
