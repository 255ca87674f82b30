"""A project's report: one row of what it is and how far it got, for its owners' records.

Domain code: knows nothing of HTTP. The figures are the project's ProjectStats row (kept current
as tasks and answers change) and the answers beyond n_answers (stats.answers_beyond_needed, as
the stats page); CSV cells are neutralised like every CSV the server writes.
"""

import csv
import io

from sqlalchemy import select

from core.models import Category, Project, ProjectStats, User
from core.services.export import csv_cell, safe_name
from core.services.stats import BEYOND_NEEDED, answers_beyond_needed

FIGURES = (
    "n_tasks",
    "n_completed_tasks",
    "n_task_runs",
    "n_results",
    "n_volunteers",
    "overall_progress",
    "average_time",
)
FIELDS = (
    "id",
    "name",
    "short_name",
    "description",
    "created",
    "updated",
    "published",
    "category",
    "owner",
    "n_owners",
    *FIGURES,
    "last_activity",
    # Last, so that the columns read before they came keep their places.
    *BEYOND_NEEDED,
)
# The kinds of report there are (PYBOSSA's `type` argument) and the formats they come in.
TYPES = ("project",)
FORMATS = ("csv", "json")


def report(db, project: Project) -> dict:
    """The report's fields, in FIELDS order."""
    figures = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).first()
    last = figures.last_activity if figures else None
    return {
        "id": project.id,
        "name": project.name,
        "short_name": project.short_name,
        "description": project.description,
        "created": project.created,
        "updated": project.updated,
        "published": project.published,
        "category": db.scalar(select(Category.name).where(Category.id == project.category_id)),
        "owner": db.scalar(select(User.name).where(User.id == project.owner_id)),
        "n_owners": len(project.owners_ids),
        **{name: getattr(figures, name) if figures else 0 for name in FIGURES},
        "last_activity": None if last in (None, "", "0") else last,
        **answers_beyond_needed(db, project.id),
    }


def report_csv(values: dict) -> str:
    """The report as CSV: a header line, then one line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    writer.writerow([csv_cell(values[name]) for name in FIELDS])
    return buffer.getvalue()


def file_name(project: Project, fmt: str) -> str:
    return f"{safe_name(project.short_name)}_project_report.{fmt}"
