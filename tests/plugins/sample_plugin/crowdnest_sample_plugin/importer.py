"""The sample plugin's `lines` importer: one task per non-empty line of a text field."""

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField


class LinesImporter:
    name = "lines"
    title = "Lines of text"
    description = "One task per line: the line becomes info.text."
    fields = (ImportField("lines", "Lines", "text", "One task per line."),)

    def records(self, values, settings):
        lines = [line.strip() for line in (values.get("lines") or "").splitlines()]
        if not any(lines):
            raise ImporterError("Please write at least one line.", "lines")
        for line in lines:
            if line:
                yield {"text": line}


@hookimpl
def crowdnest_importers():
    return {"lines": LinesImporter()}
