"""The OpenAPI 3.1 document of /api, generated from the Cornice services and colander schemas.

Nothing here is written per CRUD route: every Cornice service is walked, a resource's request
body is its colander schema converted to JSON Schema, its query parameters and answers come from
its model's columns. Only the function endpoints, whose answers have shapes of their own, are
described by function_operations(); a service missing there is listed by `undocumented()` (a
test keeps that list empty) and still appears in the document with a generic answer.
"""

import re

import colander
from cornice.service import get_services
from pyramid.response import Response
from sqlalchemy import JSON, Boolean, Float, Integer, String, Text

from core import schemas as body_schemas
from core.errors import STATUS_BY_CLASS
from core.models import internal_columns
from core.services.readable import readable

OPENAPI_VERSION = "3.1.0"
DOCUMENT_PATH = "/api/openapi.json"
# Methods the document describes; HEAD mirrors GET and is left to HTTP.
METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS")
# Integer columns are 32-bit on PostgreSQL (SQLite's are 64-bit): the range valid on both.
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
ID = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "examples": [1]}
# LIMIT and OFFSET are 64-bit.
COUNT = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
# Every error status an /api call may answer with, in behavior.md section 4's shape.
ERROR_STATUSES = sorted({*STATUS_BY_CLASS.values(), 413})
FUZZY_BOOLEANS = ["true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "1", "0", ""]

ERROR = {
    "type": "object",
    "required": ["action", "status", "status_code", "target", "exception_cls", "exception_msg"],
    "properties": {
        "action": {"type": "string"},
        "status": {"const": "failed"},
        "status_code": {"type": "integer"},
        "target": {"type": "string"},
        "exception_cls": {"type": "string"},
        "exception_msg": {"type": "string"},
    },
}
# gunicorn refuses a request line over 4094 bytes itself, with an HTML page (waitress does not).
URI_TOO_LONG = {
    "description": "Request line too long, refused by the HTTP server before the application.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
# newtask's answer to a bad project JWT (behavior.md section 4, "Errors not in that format").
JWT_ERROR = {
    "type": "object",
    "required": ["code", "description"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}


# -- colander -> JSON Schema -----------------------------------------------------------------


def _nullable(schema: dict, nullable: bool) -> dict:
    if not nullable or "type" not in schema:
        return schema
    return {**schema, "type": [schema["type"], "null"]}


def _typed(node_type) -> dict:
    """JSON Schema of one colander type (ours in core.schemas, and colander's own)."""
    if isinstance(node_type, body_schemas.StrictInt | colander.Int):
        schema = dict(INT32)
        # A type that states its own bounds wins over the columns' 32-bit range.
        for bound in ("minimum", "maximum"):
            if getattr(node_type, bound, None) is not None:
                schema[bound] = getattr(node_type, bound)
    elif isinstance(node_type, body_schemas.StrictFloat | colander.Float | colander.Decimal):
        schema = {"type": "number"}
    elif isinstance(node_type, body_schemas.StrictBool | colander.Boolean):
        schema = {"type": "boolean"}
    elif isinstance(node_type, body_schemas.StrictText):
        schema = {"type": "string"}
        if node_type.max_length:
            schema["maxLength"] = node_type.max_length
    elif isinstance(node_type, colander.String):
        schema = {"type": "string"}
    elif isinstance(node_type, colander.DateTime):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(node_type, body_schemas.IntList):
        schema = {"type": "array", "items": dict(INT32)}
    else:  # AnyJSON and anything unknown: any JSON value
        return {}
    return _nullable(schema, getattr(node_type, "nullable", False))


def _validated(schema: dict, validator) -> dict:
    if isinstance(validator, colander.All):
        for each in validator.validators:
            schema = _validated(schema, each)
    elif isinstance(validator, colander.Length):
        if validator.min is not None:
            schema["minLength"] = validator.min
        if validator.max is not None:
            schema["maxLength"] = validator.max
    elif isinstance(validator, colander.Range):
        if validator.min is not None:
            schema["minimum"] = validator.min
        if validator.max is not None:
            schema["maximum"] = validator.max
    elif isinstance(validator, colander.OneOf):
        schema["enum"] = list(validator.choices)
    return schema


def colander_schema(node) -> dict:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of a colander node."""
    node_type = node.typ
    if isinstance(node_type, colander.Mapping):
        children = node.children
        schema = {
            "type": "object",
            "properties": {child.name: colander_schema(child) for child in children},
        }
        required = [child.name for child in children if child.required]
        if required:
            schema["required"] = required
        # core.schemas names `unknown` on the node (the API refuses unknown keys itself).
        if "raise" in (node_type.unknown, getattr(node, "unknown", None)):
            schema["additionalProperties"] = False
    elif isinstance(node_type, colander.Sequence | colander.List):
        schema = {"type": "array", "items": colander_schema(node.children[0])}
    else:
        schema = _typed(node_type)
    if node.description:
        schema["description"] = node.description
    return _validated(schema, node.validator)


# -- models -> object and query schemas ------------------------------------------------------


def column_schema(column) -> dict:
    """JSON Schema of a column's value as the API shows it (any JSON for JSON columns)."""
    column_type = column.type
    if isinstance(column_type, Boolean):
        schema = {"type": "boolean"}
    elif isinstance(column_type, Integer):
        schema = dict(INT32)
    elif isinstance(column_type, Float):
        schema = {"type": "number"}
    elif isinstance(column_type, String | Text):
        schema = {"type": "string"}
    elif isinstance(column_type, JSON) or hasattr(column_type, "impl"):
        return {}
    else:
        return {}
    return _nullable(schema, column.nullable)


def object_schema(model) -> dict:
    """An object as `dictize` answers it: every key optional, since what a caller may see
    depends on who it is; computed keys (link, links, stats, related objects) come on top."""
    hidden = internal_columns(model)
    return {
        "type": "object",
        "properties": {
            column.key: column_schema(column)
            for column in model.__table__.columns
            if column.key not in hidden
        },
    }


# What an anonymous caller may read does not depend on the public info keys' settings.
NO_PUBLIC_INFO = {"project.info_public_fields": (), "user.info_public_fields": ()}


def public_columns(model) -> list:
    """The columns anyone may filter and order on (decision 17, services.readable)."""
    shown = readable(model, NO_PUBLIC_INFO, privileged=False).columns
    return [column for column in model.__table__.columns if column.key in shown]


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def list_parameters(model) -> list:
    """behavior.md section 3: the list keys, then one equality filter per public column."""
    columns = public_columns(model)
    parameters = [
        query("limit", COUNT, "Page size, at most 100 (default 20)."),
        query("offset", COUNT, "Rows skipped (ignored with last_id)."),
        query("last_id", ID, "Keyset pagination: only ids above this one."),
        query("orderby", {"enum": [c.key for c in columns]}, "Column to order by (default id)."),
        query("desc", {"enum": FUZZY_BOOLEANS}, "Descending order."),
        query("all", {"enum": ["1", "0"]}, "1: every readable object, not only the caller's."),
        query("related", {"type": "string"}, "Non-empty: add related objects."),
        query("fulltextsearch", {"enum": ["1"]}, "1: info=key::query is a full-text query."),
        query("stats", {"type": "string"}, "Non-empty: add a project's stats."),
        query("full", {"type": "string"}, "Non-empty: with stats, the detailed figures."),
    ]
    from core.services.query import extra_keys

    if "external_uid" in extra_keys(model):
        parameters += [
            query("participated", {"type": "string"}, "Non-empty: leave out what the caller did."),
            query("external_uid", {"type": "string"}, "The caller's id in a partner app."),
        ]
    for column in columns:
        if column.key == "info":
            schema = {"type": "string"}
            description = "key::value pairs joined by |, or a JSON value matched by containment."
        elif column.key == "created":
            schema = {"type": "string"}
            description = "Prefix of the creation time: 2015, 2015-05, 2015-05-03, ..."
        elif column.key == "project_id":
            schema = {"type": "string", "examples": ["1", "[1,2]"]}
            description = "Project ids: every run of digits is one id."
        else:
            schema = column_schema(column)
            if isinstance(schema.get("type"), list):
                schema = {**schema, "type": schema["type"][0]}
            description = f"Objects whose {column.key} equals this value."
        if schema:
            parameters.append(query(column.key, schema, description))
    return parameters


# -- answers ---------------------------------------------------------------------------------


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_responses(statuses=ERROR_STATUSES) -> dict:
    return {
        str(status): {
            "description": "Error in the documented shape (behavior.md section 4).",
            "content": json_content({"$ref": "#/components/schemas/Error"}),
        }
        for status in statuses
    }


def responses(success: dict) -> dict:
    return {**success, **error_responses()}


def ok(schema: dict, description: str = "OK") -> dict:
    return {"200": {"description": description, "content": json_content(schema)}}


def ref(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


# -- operations ------------------------------------------------------------------------------


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def resource_operation(klass, attr: str, method: str) -> dict:
    """The operation a generic CRUD resource method answers (core.api.base.Resource)."""
    from core.api.base import BODY_QUERY_KEYS

    model = klass.model
    summary = f"{method} {klass.target}"
    if attr == "collection_get":
        return {
            "summary": f"List {klass.target} objects",
            "parameters": list_parameters(model),
            "responses": responses(ok({"type": "array", "items": ref(model)})),
        }
    if attr == "get":
        flags = [
            query(key, {"type": "string"}, f"Non-empty: {key}")
            for key in sorted({"related", "stats", "full"})
        ]
        return {
            "summary": f"One {klass.target}",
            "parameters": flags,
            "responses": responses(ok(ref(model))),
        }
    if attr == "delete":
        if not klass.deletable:
            return {"summary": summary, "responses": error_responses()}
        return {
            "summary": f"Delete a {klass.target}",
            "responses": responses({"204": {"description": "Deleted, empty body."}}),
        }
    if attr == "collection_post" and not klass.creatable:
        return {"summary": summary, "responses": error_responses()}
    # POST and PUT: a JSON object checked by the resource's colander schema.
    resource = klass.__new__(klass)
    schema = body_schemas.body_schema(model, tuple(resource.writable_fields()))
    content = json_content(colander_schema(schema))
    if klass.accepts_files:
        form = {
            name: {"type": "string"}
            for name in colander_schema(schema)["properties"]
            if name not in BODY_QUERY_KEYS
        }
        form["file"] = {"type": "string", "format": "binary"}
        content["multipart/form-data"] = {
            "schema": {"type": "object", "required": ["file"], "properties": form}
        }
    return {
        "summary": f"{'Create' if attr == 'collection_post' else 'Update'} a {klass.target}",
        "requestBody": {"required": True, "content": content},
        "responses": responses(ok(ref(model))),
    }


def preflight_operation() -> dict:
    return {
        "summary": "CORS preflight",
        "parameters": [
            {"name": "Origin", "in": "header", "schema": {"type": "string"}},
            {
                "name": "Access-Control-Request-Method",
                "in": "header",
                "schema": {"enum": ["GET", "POST", "PUT", "DELETE"]},
            },
        ],
        "responses": {"200": {"description": "CORS headers, empty body."}, **error_responses()},
    }


def _task_list() -> dict:
    from core.models import Task

    return {"type": "array", "items": ref(Task)}


def _token_map() -> dict:
    token = {
        "type": "object",
        "properties": {
            "oauth_token": {"type": "string"},
            "oauth_token_secret": {"type": "string"},
        },
    }
    return {"type": "object", "additionalProperties": token}


def function_operations() -> dict:
    """Function endpoints by Cornice service name and method: what a schema cannot derive."""
    from core.models import Task

    count = {"type": "integer"}
    page = [
        query("limit", COUNT, "Page size, at most 100."),
        query("offset", COUNT, "Rows skipped."),
        query("last_id", ID, "Only ids above this one."),
        query("orderby", {"enum": [c.key for c in public_columns(Task)]}, "Order by."),
        query("desc", {"enum": FUZZY_BOOLEANS}, "Descending order."),
    ]
    external_uid = query("external_uid", {"type": "string"}, "The caller's id in a partner app.")
    progress = {
        "parameters": [external_uid],
        "responses": responses(
            ok(
                {
                    "type": "object",
                    "required": ["done", "total"],
                    "properties": {"done": count, "total": count},
                }
            )
        ),
    }
    newtask = {
        "parameters": [*page[:2], page[3], page[4], external_uid],
        "responses": {
            **responses(
                ok(
                    {"anyOf": [ref(Task), _task_list(), {"type": "object"}]},
                    "A task, a list of tasks, or {} when none is left.",
                )
            ),
            "401": {
                "description": "Not signed in to a project that needs it, or a bad project JWT.",
                "content": json_content(
                    {"anyOf": [{"$ref": "#/components/schemas/Error"}, JWT_ERROR]}
                ),
            },
        },
    }
    globalstats = {
        "responses": responses(
            ok(
                {
                    "type": "object",
                    "properties": {
                        **{
                            key: count
                            for key in (
                                "n_projects",
                                "n_users",
                                "n_tasks",
                                "n_task_runs",
                                "n_pending_tasks",
                                "n_results",
                            )
                        },
                        "categories": {
                            "type": "array",
                            "items": {"type": "object", "additionalProperties": count},
                        },
                    },
                }
            )
        )
    }
    tokens = {"responses": responses(ok(_token_map()))}
    return {
        ("favorites", "GET"): {"parameters": page, "responses": responses(ok(_task_list()))},
        ("favorites", "POST"): {
            "requestBody": {
                "required": True,
                "content": json_content(
                    {
                        "type": "object",
                        "required": ["task_id"],
                        "additionalProperties": False,
                        "properties": {"task_id": ID},
                    }
                ),
            },
            "responses": responses(ok(ref(Task))),
        },
        ("favorite", "GET"): {"responses": responses(ok(ref(Task)))},
        ("favorite", "DELETE"): {"responses": responses(ok(ref(Task)))},
        ("globalstats", "GET"): globalstats,
        ("globalstats_one", "GET"): globalstats,
        ("newtask", "GET"): newtask,
        ("newtask_short", "GET"): newtask,
        ("userprogress", "GET"): progress,
        ("userprogress_app", "GET"): progress,
        ("oauth_tokens", "GET"): tokens,
        ("oauth_provider_token", "GET"): tokens,
        ("project_token", "GET"): {
            "security": [{"ProjectSecretKey": []}],
            "responses": {
                "200": {
                    "description": "A project JWT (HS256).",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                **error_responses(),
            },
        },
        ("disqus_sso", "GET"): {
            "responses": responses(
                ok(
                    {
                        "type": "object",
                        "required": ["remote_auth_s3", "api_key"],
                        "properties": {
                            "remote_auth_s3": {"type": "string"},
                            "api_key": {"type": "string"},
                        },
                    }
                )
            )
        },
    }


def path_template(pattern: str) -> tuple[str, list]:
    """`/api/task/{oid:\\d+}` -> (`/api/task/{oid}`, its path parameters)."""
    parameters = []

    def replace(match):
        name, regex = match.group(1), match.group(2)
        schema = ID if regex == r"\d+" else {"type": "string", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return re.sub(r"\{(\w+)(?::([^}]*))?\}", replace, pattern), parameters


def service_operations():
    """(service name, path pattern, method, view, args) of every Cornice service method."""
    for service in get_services():
        for method, view, args in service.definitions:
            if method in METHODS:
                yield service.name, service.path, method, view, args


def undocumented(registry) -> list:
    """Function services and plain /api routes that function_operations() and PLAIN_ROUTES
    do not describe."""
    described = function_operations()
    missing = [
        (name, method)
        for name, _, method, view, args in service_operations()
        if "klass" not in args and method != "OPTIONS" and (name, method) not in described
    ]
    missing += [(name, "GET") for name, _, _ in plain_routes(registry) if name not in PLAIN_ROUTES]
    return sorted(missing)


# /api routes that are plain Pyramid views, not Cornice services: GET only.
PLAIN_ROUTES = {
    "api_root": {
        "summary": "The API's name, as plain text",
        "responses": {
            "200": {
                "description": "OK",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    },
    "openapi": {"summary": "This document", "responses": ok({"type": "object"})},
}


def plain_routes(registry):
    """(name, pattern, methods) of the /api routes no Cornice service declares."""
    services = {service.name for service in get_services()}
    for item in registry.introspector.get_category("routes"):
        route = item["introspectable"]
        pattern = route["pattern"]
        if route["name"] in services:
            continue
        if pattern == "/api" or pattern.startswith("/api/"):
            yield route["name"], pattern, route["request_methods"]


def build_document(registry) -> dict:
    """The whole OpenAPI 3.1 document of /api."""
    from core.models import Base

    settings = registry.settings
    functions = function_operations()
    paths = {}
    for name, pattern, method, view, args in service_operations():
        path, path_parameters = path_template(pattern)
        klass = args.get("klass")
        if method == "OPTIONS":
            operation = preflight_operation()
        elif klass is not None:
            attr = view if isinstance(view, str) else view.__name__.rsplit(".", 1)[-1]
            operation = resource_operation(klass, attr, method)
        else:
            operation = dict(functions.get((name, method), {"responses": responses(ok({}))}))
            summary = _first_line(getattr(view, "__doc__", None))
            operation.setdefault("summary", summary or f"{method} {pattern}")
        operation["operationId"] = f"{method.lower()}_{name}"
        operation["responses"] = {**operation["responses"], "414": URI_TOO_LONG}
        if path_parameters:
            operation["parameters"] = path_parameters + operation.get("parameters", [])
        paths.setdefault(path, {})[method.lower()] = operation
    for name, pattern, _ in plain_routes(registry):
        if name in PLAIN_ROUTES:
            operation = {"operationId": f"get_{name}", **PLAIN_ROUTES[name]}
            operation["responses"] = {**operation["responses"], "414": URI_TOO_LONG}
            paths.setdefault(pattern, {})["get"] = operation
    models = {
        mapper.class_.__name__: object_schema(mapper.class_) for mapper in Base.registry.mappers
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{settings.get('brand') or 'Crowdnest'} API",
            "version": "1",
            "description": "The PYBOSSA-compatible /api, generated from its Cornice services.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR, **dict(sorted(models.items()))},
            "securitySchemes": {
                "ApiKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The user's API key, raw.",
                },
                "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
                "ProjectSecretKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "A project's secret key, raw.",
                },
            },
        },
        # Anonymous calls are allowed everywhere; a key makes the caller a user.
        "security": [{}, {"ApiKeyHeader": []}, {"ApiKeyQuery": []}],
    }


def openapi_view(request):
    registry = request.registry
    document = registry.get("openapi_document")
    if document is None:
        document = registry["openapi_document"] = build_document(registry)
    return Response(json_body=document, content_type="application/json")


def includeme(config):
    config.add_route("openapi", DOCUMENT_PATH)
    config.add_view(openapi_view, route_name="openapi", request_method="GET")
