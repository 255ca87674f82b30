"""Files sent with multipart task runs, blog posts, helping materials, pages, announcements.

Domain code: knows nothing of HTTP. Files live under upload.dir/<container>/<name>; the name is
made safe once and used everywhere (media_url, info.file_name, the file on disk).
"""

import os
import re
import secrets
import time

from core.errors import DomainError

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str | None) -> str:
    """A name without paths or odd characters; `blob` or nothing becomes <epoch>.png."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = SAFE.sub("_", name).strip("._")
    if not name or name == "blob":
        name = f"{int(time.time())}.png"
    return name[:200]


def check_extension(name: str, allowed) -> None:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in allowed:
        raise DomainError(
            "BadRequest",
            f"File type '.{extension}' is not allowed; allowed: "
            + ", ".join(f".{ext}" for ext in sorted(allowed)),
        )


def store(upload_dir: str, container: str, filename: str, stream, allowed, max_bytes: int):
    """Write the file; returns (stored name, path). Refuses bad types and oversized files."""
    name = safe_filename(filename)
    check_extension(name, allowed)
    folder = os.path.join(upload_dir, container)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    if os.path.exists(path):
        stem, dot, extension = name.rpartition(".")
        name = f"{stem}-{secrets.token_hex(4)}{dot}{extension}"
        path = os.path.join(folder, name)
    written = 0
    with open(path, "wb") as target:
        while chunk := stream.read(65536):
            written += len(chunk)
            if written > max_bytes:
                target.close()
                os.remove(path)
                raise DomainError("BadRequest", f"File is larger than {max_bytes} bytes")
            target.write(chunk)
    return name, path


def path_of(upload_dir: str, info) -> str | None:
    """The stored file an object's info points at, if any (never outside upload_dir)."""
    if not isinstance(info, dict) or not info.get("container") or not info.get("file_name"):
        return None
    root = os.path.realpath(upload_dir)
    path = os.path.realpath(os.path.join(root, str(info["container"]), str(info["file_name"])))
    return path if path.startswith(root + os.sep) else None


def remove(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)
