"""Avatars and thumbnails: decode an uploaded image with Pillow, crop, shrink, store as PNG.

Domain code: knows nothing of HTTP. Files live under upload.dir/<container>/<name>.png; the
caller keeps `container` and `name` in the object's info (PYBOSSA's `container`/`avatar` keys).
An image's size is checked from its header before its pixels are decoded (decision 22).
"""

import io
import os
import secrets

from PIL import Image, UnidentifiedImageError

from core.errors import DomainError
from core.services import uploads

# Formats an uploaded image may be in (Pillow could open many more, some through outside tools).
FORMATS = ("PNG", "JPEG", "GIF")


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


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """The decoded image; its size is checked from the header before any pixel is decoded."""
    too_large = "The image is too large: {} x {} pixels (at most {})"
    try:
        # open() reads the header only: the pixels are decoded by load(), after the check.
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise DomainError("BadRequest", too_large.format(width, height, max_pixels))
        image.load()
    except Image.DecompressionBombError:
        # Pillow's own check (its MAX_IMAGE_PIXELS), kept as a backstop behind max_pixels.
        raise DomainError("BadRequest", too_large.format("?", "?", max_pixels)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DomainError("BadRequest", "The file is not an image") from None
    return image


def save_image(
    upload_dir: str,
    container: str,
    data: bytes,
    crop=None,
    size: int = 512,
    max_bytes=None,
    max_pixels: int = 40_000_000,
) -> str:
    """Crop (optional), fit within size x size, store as PNG; returns the stored file name."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DomainError("BadRequest", f"File is larger than {max_bytes} bytes")
    image = open_image(data, max_pixels)
    box = _crop_box(image, crop)
    if box is not None:
        image = image.crop(box)
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image.thumbnail((size, size))
    os.makedirs(uploads.resolve(upload_dir, container), exist_ok=True)
    name = f"{secrets.token_hex(8)}.png"
    image.save(uploads.resolve(upload_dir, container, name), format="PNG", optimize=True)
    return name


def image_url(request, container: str | None, name: str | None) -> str | None:
    if not container or not name:
        return None
    try:
        path = uploads.resolve(request.registry.settings["upload.dir"], container, name)
    except DomainError:
        return None
    return request.static_url(path)
