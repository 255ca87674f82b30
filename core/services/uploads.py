"""Files sent with multipart task runs, blog posts, helping materials, pages, announcements.

Domain code: knows nothing of HTTP. Files live under upload.dir/<container>/<name>; the name is
made safe once and used everywhere (media_url, info.file_name, the file on disk). Every path
to a stored file is built by `resolve`, which refuses anything outside upload.dir; the info
keys naming a file are written by the server only (clients' values are dropped by the API).
"""

import logging
import os
import re
import secrets
import time

from core.errors import DomainError
from core.models import Project, User

log = logging.getLogger(__name__)

SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# info keys the server writes for a stored file: never taken from a client.
FILE_INFO_KEYS = frozenset({"container", "file_name"})
# Served inline only as these types (never SVG or HTML); anything else is an attachment.
INLINE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}


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


def resolve(upload_dir: str, container, name=None) -> str:
    """The real path of upload_dir/<container>[/<name>]; refuses one outside upload_dir."""
    parts = [container] if name is None else [container, name]
    for part in parts:
        # One plain path component each: no separators, no dot names, no NUL.
        if not isinstance(part, str) or part in ("", ".", "..") or any(c in part for c in "/\\\0"):
            raise DomainError("BadRequest", "Invalid file name")
    root = os.path.realpath(upload_dir)
    # realpath follows symbolic links: a link inside the folder cannot lead out of it.
    path = os.path.realpath(os.path.join(root, *parts))
    if not path.startswith(root + os.sep):
        raise DomainError("BadRequest", "Invalid file name")
    return path


def container_for(user, project_owner_id: int | None = None) -> str:
    """user_<id> of the uploader (`anonymous` without one); an admin's upload for a project goes
    to the project owner's container (behavior.md 7.2)."""
    if user is None:
        return "anonymous"
    if user.admin and project_owner_id is not None:
        return f"user_{project_owner_id}"
    return f"user_{user.id}"


def store(upload_dir: str, container: str, filename: str, stream, allowed, max_bytes: int):
    """Write the file; returns (stored name, path). Refuses bad types and oversized files."""
    name = safe_filename(filename)
    check_extension(name, allowed)
    folder = resolve(upload_dir, container)
    os.makedirs(folder, exist_ok=True)
    path = resolve(upload_dir, container, name)
    if os.path.exists(path):
        stem, dot, extension = name.rpartition(".")
        name = f"{stem}-{secrets.token_hex(4)}{dot}{extension}"
        path = resolve(upload_dir, container, name)
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


def owned_path(upload_dir: str, container, name, containers) -> str | None:
    """The stored file <container>/<name> if it lies in one of `containers` (the folders the
    server puts this object's files in) and inside upload_dir; None otherwise."""
    if not container or not name:
        return None
    if container not in containers:
        log.warning("Not touching %r/%r: not in %s", container, name, sorted(containers))
        return None
    try:
        return resolve(upload_dir, container, name)
    except DomainError:
        log.warning("Not touching %r/%r: outside the upload folder", container, name)
        return None


def path_of(upload_dir: str, info, containers) -> str | None:
    """The stored file an object's info points at, if any, and only in one of `containers`."""
    if not isinstance(info, dict):
        return None
    return owned_path(upload_dir, info.get("container"), info.get("file_name"), containers)


def uploader_containers(user_id: int | None, admin: bool, owner_id: int | None) -> set[str]:
    """Where `store` put a file sent by this uploader (see container_for)."""
    if user_id is None:
        return {"anonymous"}
    found = {f"user_{user_id}"}
    if admin and owner_id is not None:
        found.add(f"user_{owner_id}")
    return found


def client_info(info: dict, managed: frozenset = FILE_INFO_KEYS) -> dict:
    """A client's info without the keys only the server writes: `managed`, a stored file's
    keys unless a resource names its own too (secrets: core.api.base)."""
    return {key: value for key, value in info.items() if key not in managed}


def stored_file(db, upload_dir: str, obj) -> str | None:
    """The file a task run, blog post, helping material, page or announcement uploaded itself:
    its info's file, only in the container its uploader's files go to (the project owners'
    when the object does not record its uploader), never a file of someone else."""
    project = db.get(Project, obj.project_id) if getattr(obj, "project_id", None) else None
    if "user_id" in obj.__table__.columns:
        uploader = db.get(User, obj.user_id) if obj.user_id is not None else None
        containers = uploader_containers(
            obj.user_id, bool(uploader and uploader.admin), project and project.owner_id
        )
    else:
        containers = {f"user_{owner_id}" for owner_id in (project.owners_ids if project else ())}
    return path_of(upload_dir, obj.info, containers)


def remove(path: str | None) -> None:
    """Delete a stored file (a path `resolve` gave); nothing happens without one."""
    if path and os.path.isfile(path):
        os.remove(path)


def served_as(name: str) -> tuple[str, bool]:
    """(content type, inline?) a stored file is served with: allowed images inline, the rest as
    an opaque download, so no upload ever runs as script or HTML on the application's origin."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in INLINE_TYPES:
        return INLINE_TYPES[extension], True
    return "application/octet-stream", False
