"""SQLAlchemy models, one module per table; importing this package registers them all."""

from core.db import Base
from core.models.announcement import Announcement
from core.models.auditlog import Auditlog
from core.models.blogpost import Blogpost
from core.models.category import Category
from core.models.favorite import Favorite
from core.models.helpingmaterial import HelpingMaterial
from core.models.internal import internal_columns
from core.models.page import Page
from core.models.project import Project, ProjectOwner
from core.models.project_stats import ProjectStats
from core.models.result import Result
from core.models.task import Task
from core.models.task_request import TaskRequest
from core.models.task_reservation import TaskReservation
from core.models.task_run import TaskRun
from core.models.user import User
from core.models.webhook_delivery import WebhookDelivery

__all__ = [
    "Announcement",
    "Auditlog",
    "Base",
    "Blogpost",
    "Category",
    "Favorite",
    "HelpingMaterial",
    "Page",
    "Project",
    "ProjectOwner",
    "ProjectStats",
    "Result",
    "Task",
    "TaskRequest",
    "TaskReservation",
    "TaskRun",
    "User",
    "WebhookDelivery",
    "internal_columns",
]
