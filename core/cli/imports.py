"""`crowdnest import PROJECT --type T SOURCE`: the import page's importers, from a shell.

SOURCE is a file (for importers that take an upload) or the text of the importer's first field
(a URL, an album id...); `--field NAME=VALUE` gives the others. Progress goes to standard error:
one line rewritten in place on a terminal, a line every few seconds otherwise. All or nothing,
as on the web page.
"""

import os
import sys

from sqlalchemy import select

from core.cli.common import CommandError, Progress
from core.db import own_session
from core.inputs import ascii_digits
from core.models import Project
from core.plugins import get_plugin_manager
from core.services.importer import ImporterError, enabled_importers, import_tasks


class CountingFile:
    """A binary file that remembers how many bytes were read from it."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "rb")  # closed by the importer
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.read_bytes += len(data)
        return data

    def close(self) -> None:
        self.file.close()


class LocalUpload:
    """A file on disk, shaped like webob's upload (`filename`, `file`)."""

    def __init__(self, path: str) -> None:
        self.filename = os.path.basename(path)
        self.file = CountingFile(path)
        self.size = os.path.getsize(path)


class ImportProgress(Progress):
    """`imported 12000 tasks, 3 duplicates skipped (48 % of tasks.csv)` on stderr."""

    def __init__(self, upload: LocalUpload | None = None, stream=None) -> None:
        super().__init__(stream)
        self.upload = upload

    def __call__(self, created: int, skipped: int, final: bool = False) -> None:
        if not self.due(final):
            return
        line = f"imported {created} tasks, {skipped} duplicates skipped"
        if self.upload is not None and self.upload.size:
            percent = 100 * self.upload.file.read_bytes // self.upload.size
            line += f" ({percent} % of {self.upload.filename})"
        self.show(line)


def importer_values(importer, source: str | None, fields: list[str]) -> tuple[dict, LocalUpload]:
    """The importer's form values from SOURCE and --field NAME=VALUE; the file, if one."""
    values: dict = {field.name: None for field in importer.fields}
    upload = None
    for item in fields:
        name, equals, value = item.partition("=")
        if not equals or name not in values:
            known = ", ".join(values)
            raise CommandError(f"--field wants NAME=VALUE with NAME one of: {known}")
        values[name] = value
    if source is None:
        return values, upload
    file_fields = [field.name for field in importer.fields if field.kind == "file"]
    text_fields = [field.name for field in importer.fields if field.kind != "file"]
    text_fields.sort(key=lambda name: values[name] is not None)
    if file_fields and os.path.isfile(source):
        upload = LocalUpload(source)
        values[file_fields[0]] = upload
    elif text_fields:
        values[text_fields[0]] = source
    else:
        raise CommandError(f"no file named {source!r}")
    return values, upload


def import_command(settings: dict, args) -> int:
    importers = enabled_importers(get_plugin_manager(settings))
    importer = importers.get(args.type)
    if importer is None:
        enabled = ", ".join(importers) or "none"
        raise CommandError(f"no enabled importer is named {args.type!r} (enabled: {enabled})")
    values, upload = importer_values(importer, args.source, args.field or [])
    progress = ImportProgress(upload)
    try:
        with own_session(settings) as db:
            query = select(Project).where(Project.short_name == args.project)
            if ascii_digits(args.project):
                query = select(Project).where(Project.id == int(args.project))
            project = db.scalars(query).first()
            if project is None:
                raise CommandError(f"no project named {args.project!r}")
            report = import_tasks(
                db, project, importer.records(values, settings), progress=progress
            )
            progress(report.created, report.skipped, final=True)
    except ImporterError as error:
        raise CommandError(f"nothing imported: {error.message}") from None
    finally:
        progress.close()
        if upload is not None:
            upload.file.close()
    print(report.message, file=sys.stderr)
    return 0


def add_parser(commands) -> None:
    """Register `crowdnest import` on the command's sub-parsers."""
    command = commands.add_parser("import", help="import tasks into a project with an importer")
    command.add_argument("project", metavar="PROJECT", help="the project's short name (or id)")
    command.add_argument("--type", required=True, help="the importer (csv, json, flickr...)")
    command.add_argument(
        "source",
        metavar="FILE_OR_URL",
        help="a file to upload, or the importer's first field (a URL, an album id...)",
    )
    command.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="another field of the importer's form; repeatable",
    )
    command.set_defaults(run=import_command)
