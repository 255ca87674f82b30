"""/api/project."""

from sqlalchemy import select

from core.api.base import Resource, api_resource
from core.errors import DomainError
from core.mail import mail_new_owners
from core.models import Category, Project, ProjectStats, User
from core.serializers import dictize
from core.services import auditlog, export_store
from core.services.permissions import is_admin
from core.services.project import RESERVED_SHORT_NAMES, default_category_id

# info keys the server manages: never taken from a client, kept as stored on PUT (decision 3);
# container/avatar/thumbnail name the project's picture, a file under upload.dir.
SERVER_INFO_KEYS = frozenset(
    {
        "passwd_hash",
        "autoimporter",
        "onesignal",
        "onesignal_app_id",
        "container",
        "avatar",
        "thumbnail",
        "thumbnail_url",
    }
)
STATS_DETAIL_KEYS = ("hours_stats", "dates_stats", "users_stats")


@api_resource("project")
class ProjectResource(Resource):
    model = Project
    target = "project"
    reserved = frozenset({"id", "created", "updated", "completed", "contacted", "secret_key"})
    read_only = frozenset({"owner_id"})
    server_info_keys = SERVER_INFO_KEYS

    def extra_fields(self):
        return ("owners_ids",)

    def parse_body(self, partial):
        body_keys = self._peek_keys()
        if "published" in body_keys:
            raise DomainError("Forbidden", "You cannot publish a project via the API")
        data = super().parse_body(partial)
        data.pop("published", None)
        return data

    def _peek_keys(self):
        from core.api.base import json_body

        return json_body(self.request).keys()

    def _check_fields(self, project, data):
        user = self.request.user
        # A new project's `featured` is still None here: it means False.
        featured = bool(project.featured)
        if "featured" in data and data["featured"] != featured and not is_admin(user):
            raise DomainError("Forbidden", "Only administrators can feature a project")
        short_name = data.get("short_name")
        if short_name is not None and short_name.lower() in RESERVED_SHORT_NAMES:
            raise DomainError(
                "ValueError", "Project short_name is not valid, as it's used by the system."
            )
        if "category_id" in data:
            if data["category_id"] is None or self.db.get(Category, data["category_id"]) is None:
                raise DomainError("BadRequest", "category_id does not exist")
        if "owners_ids" in data:
            owners = data.pop("owners_ids") or []
            # A co-owner may send the list back unchanged (clients PUT the whole project).
            changed = set(owners) | {project.owner_id} != set(project.owners_ids)
            if (
                project.owner_id is not None
                and changed
                and not (is_admin(user) or (user is not None and user.id == project.owner_id))
            ):
                raise DomainError("Forbidden", "Only the owner can change the co-owners")
            found = set(self.db.scalars(select(User.id).where(User.id.in_(owners))))
            missing = sorted(set(owners) - found)
            if missing:
                raise DomainError("BadRequest", f"owners_ids: unknown users {missing}")
            self._owners = owners
        if "info" in data and not isinstance(data["info"], dict):
            raise DomainError("DataError", "info: must be a JSON object")

    def before_create(self, project, data):
        user = self.request.user
        data.pop("owner_id", None)
        self._owners = []
        self._check_fields(project, data)
        if user is not None:
            project.owner_id = user.id
        if "category_id" not in data:
            project.category_id = default_category_id(self.db)
        project.info = {}

    def after_create(self, project):
        project.set_owners(self._owners)
        self.db.add(ProjectStats(project_id=project.id))
        auditlog.record_create(self.db, self.request, project)
        self._owners_changed(project, [project.owner_id])

    def before_update(self, project, data):
        self._owners = None
        self._owners_before = list(project.owners_ids)
        self._check_fields(project, data)
        self._before = auditlog.snapshot(project)

    def after_update(self, project, changes):
        if self._owners is not None:
            project.set_owners(self._owners)
            self._owners_changed(project, self._owners_before)
        auditlog.record_update(self.db, self.request, project, self._before)

    def _owners_changed(self, project, before: list[int]) -> None:
        """Audit-log a change of owners_ids and tell each added user (decision 23)."""
        auditlog.record_owners(self.db, self.request, project, before)
        added = set(project.owners_ids) - set(before)
        if added:
            users = self.db.scalars(select(User).where(User.id.in_(added)).order_by(User.id))
            mail_new_owners(self.request, project, list(users))

    def before_delete(self, project):
        auditlog.record_delete(self.db, self.request, project)
        export_dir = self.request.registry.settings["export.dir"]
        self.request.after_commit(export_store.remove_project, export_dir, project.id)

    def list_extras(self, projects, listing):
        if listing is None or not listing.stats or not projects:
            return {}
        rows = self.db.scalars(
            select(ProjectStats).where(ProjectStats.project_id.in_([p.id for p in projects]))
        )
        by_project = {row.project_id: row for row in rows}
        extras = {}
        for project in projects:
            row = by_project.get(project.id)
            stats = dictize(self.request, row, links=False) if row else {}
            if stats and not listing.full:
                stats["info"] = {
                    k: v for k, v in (stats["info"] or {}).items() if k not in STATS_DETAIL_KEYS
                }
            extras[project.id] = {"stats": stats}
        return extras
