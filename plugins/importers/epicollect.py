"""The `epicollect` importer: one task per entry of an Epicollect5 project.

Reads the project's public entries from the Epicollect5 export API (`importer.epicollect.api_url`,
https://five.epicollect.net/api/export/entries/<project>), every page, optionally of one form;
each entry, as Epicollect gives it, becomes the task's `info`.
"""

import re
from collections.abc import Iterator

from core.hookspecs import hookimpl
from core.services.importer import ImporterError, ImportField, api_url, fetch_json

SERVICE = "Epicollect"
PER_PAGE = 1000
PROJECT_IN_LINK = re.compile(r"/project/([A-Za-z0-9_-]+)")


def project_slug(text: str | None) -> str:
    """The project's slug from its name ("Bird Survey" → bird-survey) or its link."""
    text = (text or "").strip()
    match = PROJECT_IN_LINK.search(text)
    slug = match.group(1) if match else re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not slug:
        raise ImporterError("Please give the Epicollect project's name.", "epicollect_project")
    return slug


class EpicollectImporter:
    """Tasks from the entries of an Epicollect5 project."""

    name = "epicollect"
    title = "Epicollect5 project"
    description = "One task per entry of a public Epicollect5 project."
    fields = (
        ImportField("epicollect_project", "Project", "text", "The project's name or link."),
        ImportField("epicollect_form", "Form", "text", "A form's ref; empty: the first form."),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        slug = project_slug(values.get("epicollect_project"))
        form = (values.get("epicollect_form") or "").strip()
        page, last_page = 1, 1
        while page <= last_page:
            url = api_url(
                settings["importer.epicollect.api_url"],
                slug,
                form_ref=form,
                per_page=PER_PAGE,
                page=page,
            )
            answer = fetch_json(url, settings, "epicollect_project", SERVICE)
            data = answer.get("data") if isinstance(answer, dict) else None
            entries = data.get("entries") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise ImporterError(
                    f"{SERVICE} answered something unexpected.", "epicollect_project"
                )
            meta = answer.get("meta") or {}
            last_page = int(meta.get("last_page") or 1) if isinstance(meta, dict) else 1
            for entry in entries:
                if not isinstance(entry, dict):
                    raise ImporterError(f"{SERVICE} answered an entry that is not an object.")
                yield entry
            if not entries:
                return
            page += 1


@hookimpl
def crowdnest_settings():
    return {
        "importer.epicollect.api_url": ("https://five.epicollect.net/api/export/entries/", str),
    }


@hookimpl
def crowdnest_importers():
    return {"epicollect": EpicollectImporter()}
