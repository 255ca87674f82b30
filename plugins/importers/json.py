"""The `json` importer: a JSON list of objects, from a URL or an upload.

Each object is one task: its `quorum`, `calibration`, `priority_0`, `n_answers` and
`user_pref` keys become task fields, every other key goes into `info`, values as given.
"""

import json
from collections.abc import Iterator

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, open_source

CONTENT_TYPES = ("application/json", "text/plain", "+json")


def parse_json(stream) -> Iterator[dict]:
    """The objects of a JSON list (the download is bounded by importer.max_bytes)."""
    try:
        data = json.loads(stream.read())
    except UnicodeDecodeError:
        raise ImporterError("The file is not UTF-8 text.") from None
    except ValueError as error:
        raise ImporterError(f"The file is not valid JSON: {error}") from None
    except RecursionError:
        raise ImporterError("The file is not valid JSON: it is nested too deeply.") from None
    finally:
        stream.close()
    if not isinstance(data, list):
        raise ImporterError("The JSON file must be a list of objects, one per task.")
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ImporterError(f"Item {number} of the JSON list is not an object.")
        yield item


class JSONImporter:
    """Tasks from the objects of a JSON list."""

    name = "json"
    title = "JSON file"
    description = "A JSON list of objects, one per task, from a URL or a file."
    fields = (
        ImportField("json_url", "JSON URL", "url", "A link to a JSON file."),
        ImportField("json_file", "Or upload a JSON file", "file"),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        stream = open_source(values, settings, "json_url", "json_file", CONTENT_TYPES)
        yield from parse_json(stream)


@hookimpl
def crowdnest_importers():
    return {"json": JSONImporter()}
