"""The generic CRUD resource every /api domain object is a few lines over.

The order of the checks follows PYBOSSA (behavior.md section 4), because clients observe
which error wins.
"""

import colander
from pyramid.response import Response
from sqlalchemy import JSON, Boolean, Float, Integer
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError, unauthorized_or_forbidden
from core.inputs import load_json
from core.models import internal_columns
from core.schemas import body_schema
from core.security import csrf_header_token, csrf_token_valid
from core.serializers import dictize, dictize_listed
from core.services import query as list_query
from core.services import uploads
from core.services.permissions import can

# `_` is jQuery's cache-buster, which task presenters send: ignored like PYBOSSA's callback.
BODY_QUERY_KEYS = {"api_key", "callback", "response_format", "_"}


def json_body(request):
    """The request body as a JSON object, or 415 as PYBOSSA answers."""
    # An empty body is not JSON either: PYBOSSA answers ValueError.
    body = load_json(request.body, request.registry.settings["request.max_json_depth"])
    if not isinstance(body, dict):
        raise DomainError(
            "AttributeError",
            "'list' object has no attribute 'keys'"
            if isinstance(body, list)
            else "The body must be a JSON object",
        )
    body.pop("link", None)
    body.pop("links", None)
    return body


def check_csrf(request) -> None:
    """Session-authenticated writes need the CSRF token (decision 11); api keys do not."""
    if request.auth_method != "session":
        return
    # Tokens of any age: a contribution page answers through /api with the token it was
    # rendered with, for as long as the volunteer stays (PYBOSSA's /api asks for none at all).
    if not csrf_token_valid(request, csrf_header_token(request), expires=False):
        raise DomainError("BadRequest", "CSRF validation failed.")


def form_value(model, key: str, value: str, max_depth: int):
    """A multipart form field as its column's type (info is JSON); the schema checks it."""
    if not isinstance(value, str):
        raise DomainError("DataError", f"{key}: a file where a value was expected")
    column = model.__table__.columns.get(key)
    if column is None:
        return value
    try:
        if isinstance(column.type, Boolean):
            return list_query.fuzzy_bool(value, key)
        if isinstance(column.type, Integer):
            return int(value)
        if isinstance(column.type, Float):
            return float(value)
        if isinstance(column.type, JSON):
            return load_json(value, max_depth, key)
    except (ValueError, DomainError):
        raise DomainError("DataError", f"{key}: {value!r} is not a valid value") from None
    return value


class Resource:
    """A Cornice resource over one model; subclasses set the class attributes and hooks."""

    model = None
    target = None  # the lower-case name used in error bodies
    reserved = frozenset({"id", "created"})
    reserved_suffix = False  # Category and Blogpost name the key in the 400 message
    read_only = frozenset()  # writable on POST, ignored on PUT (e.g. project_id)
    creatable = True
    deletable = True
    accepts_files = False  # multipart POST/PUT with a `file` part (behavior.md 7.2)
    # info keys only the server writes: dropped from a client's body, kept as stored on PUT
    # (with accepts_files, the keys naming the stored file are added).
    server_info_keys = frozenset()

    def __init__(self, request, context=None):
        self.request = request
        self.db = request.dbsession
        request.api_target = self.target

    # -- checks shared by the methods ------------------------------------------------------

    def check_query_keys(self, allowed=frozenset()):
        columns = self.model.__table__.columns
        for key in self.request.GET:
            if key in BODY_QUERY_KEYS or key in allowed or key in columns:
                continue
            raise list_query.no_attribute(self.model, key)

    def check_csrf(self):
        check_csrf(self.request)

    def load(self):
        obj = self.db.get(self.model, int(self.request.matchdict["oid"]))
        if obj is None:
            raise DomainError("NotFound")
        return obj

    def authorize(self, action, obj, message=None):
        if not can(self.db, self.request.user, action, obj):
            raise unauthorized_or_forbidden(self.request, message)

    def parse_body(self, partial: bool) -> dict:
        self.uploaded = None
        if self.accepts_files and self.request.content_type == "multipart/form-data":
            body = self.multipart_body()
        else:
            body = json_body(self.request)
            if isinstance(body.get("info"), dict):
                body["info"] = self.client_info(body["info"])
        reserved = [key for key in body if key in self.reserved]
        if reserved:
            message = "Reserved keys in payload"
            if self.reserved_suffix:
                message += ": " + ", ".join(reserved)
            raise DomainError("BadRequest", message)
        schema = body_schema(self.model, tuple(self.writable_fields()))
        names = {node.name for node in schema.children}
        for key in body:
            if key not in names:
                raise DomainError(
                    "TypeError",
                    f"'{key}' is an invalid keyword argument for {self.model.__name__}",
                )
        try:
            return schema.deserialize(body)
        except colander.Invalid as error:
            details = "; ".join(f"{k}: {v}" for k, v in sorted(error.asdict().items()))
            raise DomainError("DataError", details) from None

    def multipart_body(self) -> dict:
        """Form fields typed by their columns, plus the stored `file` (behavior.md 7.2)."""
        form = self.request.POST
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            raise DomainError("AttributeError", "'NoneType' object has no attribute 'filename'")
        body = {}
        settings = self.request.registry.settings
        for key, value in form.items():
            if key != "file" and key not in BODY_QUERY_KEYS:
                body[key] = form_value(self.model, key, value, settings["request.max_json_depth"])
        info = body.get("info")
        info = self.client_info(info) if isinstance(info, dict) else {}
        container = self.upload_container(body)
        name, path = uploads.store(
            settings["upload.dir"],
            container,
            upload.filename,
            upload.file,
            set(settings["upload.allowed_extensions"]),
            settings["upload.max_bytes"],
        )
        # The file goes with the transaction: removed if the object is not saved.
        self.request.tm.get().addAfterAbortHook(lambda: uploads.remove(path))
        self.request.tm.get().addAfterCommitHook(lambda ok: ok or uploads.remove(path))
        self.uploaded = {"container": container, "file_name": name}
        body["info"] = {**info, **self.uploaded}
        body["media_url"] = f"{self.request.application_url}/uploads/{container}/{name}"
        return body

    def managed_info_keys(self) -> frozenset:
        if self.accepts_files:
            return self.server_info_keys | uploads.FILE_INFO_KEYS
        return self.server_info_keys

    def client_info(self, info: dict) -> dict:
        """A client's info without the keys only the server writes (files, secrets)."""
        return uploads.client_info(info, self.managed_info_keys())

    def keep_server_info(self, obj, data) -> None:
        """On PUT, info keeps the server's keys as stored, or those of the file just sent."""
        if not isinstance(data.get("info"), dict):
            return
        stored = obj.info if isinstance(obj.info, dict) else {}
        kept = {key: stored[key] for key in self.managed_info_keys() if key in stored}
        if self.uploaded:
            # The file just sent replaces the stored one, which goes once this is committed.
            old = uploads.stored_file(self.db, self.request.registry.settings["upload.dir"], obj)
            self.request.after_commit(uploads.remove, old)
            kept.update(self.uploaded)
        data["info"] = {**data["info"], **kept}

    def upload_container(self, body) -> str:
        """user_<id> of the caller; an admin's upload goes to the project owner's container."""
        user = self.request.user
        project_id = body.get("project_id")
        owner_id = None
        if user is not None and user.admin and isinstance(project_id, int):
            from core.models import Project

            project = self.db.get(Project, project_id)
            owner_id = project.owner_id if project is not None else None
        return uploads.container_for(user, owner_id)

    def writable_fields(self):
        internal = internal_columns(self.model)
        return [
            column.key
            for column in self.model.__table__.columns
            if column.key not in self.reserved and column.key not in internal
        ] + list(self.extra_fields())

    def extra_fields(self):
        return ()

    def flush(self):
        try:
            self.db.flush()
        except IntegrityError as error:
            message = str(error.orig).splitlines()[0]
            raise DomainError("DBIntegrityError", message) from None

    def check_required(self, obj):
        for column in self.model.__table__.columns:
            if column.nullable or column.primary_key or column.default is not None:
                continue
            value = getattr(obj, column.key)
            if value is None or value == "":
                raise DomainError(
                    "DBIntegrityError",
                    f'null value in column "{column.key}" of relation '
                    f'"{self.model.__tablename__}" violates not-null constraint',
                )

    # -- hooks a subclass may override ---------------------------------------------------------

    def before_create(self, obj, data):
        """Set server-owned fields and refuse what this object refuses, before authorization."""

    def after_create(self, obj):
        """Side effects in the same transaction (stats, counters)."""

    def before_update(self, obj, data):
        """Refuse or drop fields a PUT may not change."""

    def after_update(self, obj, changes):
        """Side effects of an update, in the same transaction."""

    def before_delete(self, obj):
        """Side effects of a delete, in the same transaction."""

    def list_extras(self, objects, listing) -> dict:
        """Batch-loaded computed keys per object id for a page of results."""
        return {}

    def serialize(self, obj, links=True, extra=None):
        return dictize(self.request, obj, links=links, extra=extra)

    # -- the HTTP methods ------------------------------------------------------------------------

    def collection_get(self):
        request = self.request
        params = dict(request.GET)
        query, listing = list_query.build_list_query(
            self.db, self.model, params, request.user, request.user_ip, request.registry.settings
        )
        rows = list_query.run_list(self.db, query, listing)
        objects = [obj for obj, _ in rows]
        extras = self.list_extras(objects, listing)
        if listing.model in list_query.ROW_LISTED and not listing.fulltext_keys and not extras:
            if type(self).serialize is Resource.serialize:
                # Plain records with nothing to add: shaped in one loop, as dictize would.
                return dictize_listed(request, self.model, objects)
        output = []
        for obj, ranking in rows:
            extra = extras.get(obj.id)
            if ranking:
                extra = {
                    **(extra or {}),
                    **{key: value for key, value in ranking.items() if value},
                }
            output.append(self.serialize(obj, extra=extra))
        return output

    def get(self):
        self.check_query_keys(list_query.SPECIAL_KEYS)
        obj = self.load()
        self.authorize("read", obj)
        listing = list_query.Listing(
            related=bool(self.request.GET.get("related")),
            stats=bool(self.request.GET.get("stats")),
            full=bool(self.request.GET.get("full")),
        )
        return self.serialize(obj, extra=self.list_extras([obj], listing).get(obj.id))

    def collection_post(self):
        if not self.creatable:
            raise DomainError("MethodNotAllowed")
        self.check_query_keys()
        self.check_csrf()
        data = self.parse_body(partial=False)
        obj = self.model()
        self.before_create(obj, data)
        for key, value in data.items():
            if key in self.model.__table__.columns:
                setattr(obj, key, value)
        self.authorize("create", obj)
        self.check_required(obj)
        self.db.add(obj)
        self.flush()
        self.after_create(obj)
        self.flush()
        return self.serialize(obj, links=False, extra=self.list_extras([obj], None).get(obj.id))

    def put(self):
        self.check_query_keys()
        self.check_csrf()
        obj = self.load()
        self.authorize("update", obj)
        data = self.parse_body(partial=True)
        for key in self.read_only:
            data.pop(key, None)
        self.keep_server_info(obj, data)
        self.before_update(obj, data)
        changes = {}
        for key, value in data.items():
            if key in self.model.__table__.columns and getattr(obj, key) != value:
                changes[key] = (getattr(obj, key), value)
                setattr(obj, key, value)
        self.check_required(obj)
        self.flush()
        self.after_update(obj, changes)
        self.flush()
        return self.serialize(obj, links=False, extra=self.list_extras([obj], None).get(obj.id))

    def delete(self):
        if not self.deletable:
            raise DomainError("MethodNotAllowed")
        self.check_query_keys()
        self.check_csrf()
        obj = self.load()
        self.authorize("delete", obj)
        if self.accepts_files:
            # Only the file this object uploaded itself, never one its info names elsewhere.
            stored = uploads.stored_file(
                self.db, self.request.registry.settings["upload.dir"], obj
            )
            self.request.after_commit(uploads.remove, stored)
        self.before_delete(obj)
        self.db.delete(obj)
        self.flush()
        return Response(status=204, content_type="application/json")


# The names api_resource declared: their GET and HEAD read only (core.db.transaction_wanted).
RESOURCES: set[str] = set()


def api_resource(name: str):
    """Declare the Cornice resource for `/api/<name>` and `/api/<name>/{oid}` (found by scan)."""
    from cornice.resource import resource

    RESOURCES.add(name)
    return resource(
        collection_path=f"/api/{name}",
        path=f"/api/{name}/{{oid:\\d+}}",
        name=name,
        cors_origins=("*",),
        cors_headers=("Content-Type", "Authorization", "X-CSRFToken"),
        cors_max_age=21600,
    )
