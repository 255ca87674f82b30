"""A bounded raw fuzzer: what a schema cannot express, against every route (issue 17).

Every route the application registers (read from Pyramid's introspector, so new routes are
fuzzed without a change here) gets requests built from a fixed seed: bad UTF-8 and NUL bytes in
the path, query and body, integers beyond any column, JSON nested past the limit, lone
surrogates, broken multipart, odd methods and headers, as an admin, a volunteer or anonymous.
No answer may be a 5xx, and every /api error must be in the documented shape (behavior.md §4).
"""

import json
import random
import re
import time

import pytest

from tests import factories
from tests.security.rawhttp import is_api_error, send

SEED = 17
REQUESTS = 1500
# The run stops early past this many seconds (a slow machine), whatever was sent by then.
TIME_BUDGET = 40

BIG = "99999999999999999999"
METHODS = ["GET"] * 4 + ["POST"] * 3 + ["PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "PROPFIND"]
NUMBERS = ["1", "0", "2", BIG, "2147483648", "-1", "-" + BIG, "1e5", "9" * 5000, "0x10", " 1"]
# Latin-1 strings as a server hands them: "\xff" is the byte 0xff, "\xed\xa0\x80" a surrogate.
BAD_TEXT = [
    "\xff",
    "a\x00b",
    "\xed\xa0\x80",
    "\xc3",
    "%ff",
    "..",
    "'",
    '"',
    "\\",
    "é".encode().decode("latin-1"),
]
QUERY_KEYS = [
    "id",
    "project_id",
    "task_id",
    "user_id",
    "offset",
    "limit",
    "last_id",
    "info",
    "orderby",
    "desc",
    "name",
    "short_name",
    "created",
    "fulltextsearch",
    "api_key",
    "related",
    "all",
    "external_uid",
    "response_format",
    "participated",
    "stats",
    "full",
    "n_answers",
    "state",
    "%ff",
    "a%00",
    "csrf",
    "page",
]
QUERY_VALUES = [
    *NUMBERS,
    "%ff",
    "%00",
    "a%00b",
    "%ed%a0%80",
    "a'b::x",
    "a%22b::x",
    "a\\b::x",
    "x::y|z::w",
    "%7B%22a%22:%22%5Cu0000%22%7D",
    "%7B%22a%5C%22b%22:1%7D",
    "%5B" * 300 + "%5D" * 300,
    "true",
    "json",
    "",
    "id",
    "info",
    "email_addr",
    "a&b",
    "!a",
    "a:*",
    "(",
    "%C3",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=bogus",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",
    'multipart/form-data; boundary=""',
    "multipart/form-data; boundary=b",
    "multipart/mixed; boundary=b",
    "text/plain",
    "",
]
FIELDS = [
    "name",
    "short_name",
    "description",
    "info",
    "project_id",
    "task_id",
    "n_answers",
    "category_id",
    "owners_ids",
    "email_addr",
    "locale",
    "user_id",
    "published",
    "quorum",
    "file",
    "title",
    "body",
    "priority_0",
    "media_url",
    "external_uid",
    "task_presenter",
]


def json_value(rng: random.Random, depth: int = 0):
    """A JSON value chosen to hurt: huge numbers, deep nesting, NUL, lone surrogates."""
    choice = rng.randrange(12)
    if choice == 0:
        return 2 ** rng.choice([31, 40, 63, 64, 100])
    if choice == 1:
        return "a\x00b"
    if choice == 2:
        return "\ud800" + "x"
    if choice == 3 and depth < 3:
        return {rng.choice([*FIELDS, "\x00", "\udfff", 'a"b']): json_value(rng, depth + 1)}
    if choice == 4 and depth < 3:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if choice == 5:
        return rng.choice([True, None, 1.5, -1, float("1e308")])
    if choice == 6:
        return "x" * rng.choice([0, 1, 300, 70_000])
    return rng.choice(["1", "x", "é", "<script>", "../x", "a/b", 1, 0])


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def json_body(rng: random.Random) -> bytes:
    shape = rng.randrange(10)
    if shape == 0:
        return ('{"info": ' + deep(rng.choice([70, 2000, 50_000])) + "}").encode()
    if shape == 1:
        return rng.choice([b"\xff\xfe{}", b"{", b"null", b"[]", b"1", b'"x"', b"{}", b"\x00"])
    if shape == 2:
        return b'{"name": "\\ud800", "info": {"k": "\\u0000"}}'
    # Plausible fields with one value chosen to hurt, so the schemas and services run.
    fields = {name: rng.choice(["x", 1, {"a": 1}]) for name in rng.sample(FIELDS, 3)}
    fields[rng.choice(FIELDS)] = json_value(rng)
    text = json.dumps(fields, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")


def form_body(rng: random.Random) -> bytes:
    pairs = [
        f"{rng.choice(FIELDS)}={rng.choice(QUERY_VALUES)}" for _ in range(rng.randrange(1, 4))
    ]
    return "&".join(pairs).encode("latin-1", "replace")


def multipart_body(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(0, 4)):
        name = rng.choice([*FIELDS, "\xff", "a\x00"])
        filename = rng.choice([None, "a.png", "a.js", "\xff.png", "a\x00.png", "../../x.png"])
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename else ""
        )
        value = rng.choice(["1", "{}", "x\x00", deep(3000), "\xff\xfe", "2147483648"])
        parts.append(f"--b\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    ending = rng.choice(["--b--\r\n", "", "--b\r\n", "--c--\r\n"])
    return ("".join(parts) + ending).encode("latin-1", "replace")


def fill(pattern: str, rng: random.Random, known: dict) -> str:
    """A path for a route pattern: its placeholders replaced by good, huge or broken values."""

    def value(match):
        name, regex = match.group(1), match.group(2)
        if name == "slash":
            return rng.choice(["", "/"])
        # Mostly names and ids that exist, so the views behind the routing are reached.
        good = rng.random() < 0.7
        if regex and "\\d" in regex:
            return known["id"] if good else rng.choice(NUMBERS)
        return known.get(name, "x") if good else rng.choice(BAD_TEXT)

    path = re.sub(r"\{(\w+)(?::([^}]*))?\}", value, pattern)
    path = path.replace("*subpath", rng.choice(["x.png", "user_1/a.js", "\xff", "..%2f"]))
    return path if path.startswith("/") else "/" + path


def route_patterns(app) -> list[str]:
    routes = app.app.registry.introspector.get_category("routes")
    return sorted(route["introspectable"]["pattern"] for route in routes)


def build_request(rng, patterns, known, keys):
    path = fill(rng.choice(patterns), rng, known)
    method = rng.choice(METHODS)
    pairs = [
        f"{rng.choice(QUERY_KEYS)}={rng.choice(QUERY_VALUES)}"
        for _ in range(rng.choice([0, 0, 1, 2]))
    ]
    headers = {}
    who = rng.choice(["admin", "volunteer", None, "garbage"])
    if who == "garbage":
        headers["Authorization"] = rng.choice(["Bearer x", "x" * 500, "\xff", "a,b"])
    elif who:
        headers["Authorization"] = keys[who]
    if rng.random() < 0.3:
        headers["Origin"] = rng.choice(["http://evil.example", "null", "\xff"])
        if method == "OPTIONS":
            headers["Access-Control-Request-Method"] = rng.choice(["GET", "PUT", "FOO", ""])
    if rng.random() < 0.2:
        headers["Accept"] = rng.choice(["application/json", "text/html", "*/*", "\xff"])
    if rng.random() < 0.1:
        headers["X-CSRFToken"] = rng.choice(["x", "\xff", ""])
    body = b""
    if method in ("POST", "PUT", "PATCH", "DELETE") or rng.random() < 0.05:
        content_type = rng.choice(CONTENT_TYPES)
        headers["Content-Type"] = content_type
        if content_type.startswith("multipart"):
            body = multipart_body(rng)
        elif "urlencoded" in content_type:
            body = form_body(rng)
        else:
            body = json_body(rng)
    return path, method, "&".join(pairs), headers, body


@pytest.fixture
def known(db):
    """Objects for the fuzzer to aim at: ids and names that exist."""
    admin = factories.UserFactory(admin=True)
    volunteer = factories.UserFactory()
    project = factories.ProjectFactory(owner=admin, info={"a'b": "x", 'a"b': "y"})
    task = factories.TaskFactory(project=project)
    factories.TaskRunFactory(task=task, user=volunteer)
    return {
        "keys": {"admin": admin.api_key, "volunteer": volunteer.api_key},
        "values": {
            "id": str(task.id),
            "short_name": project.short_name,
            "project": project.short_name,
            "project_id": str(project.id),
            "name": volunteer.name,
            "provider": "github",
        },
    }


def fuzz(app, known, seed: int, count: int) -> tuple[int, list[str]]:
    """(requests sent, failures) for `count` requests built from `seed`."""
    rng = random.Random(seed)
    patterns = route_patterns(app)
    failures, sent, started = [], 0, time.monotonic()
    for _ in range(count):
        if time.monotonic() - started > TIME_BUDGET:
            break
        path, method, query, headers, body = build_request(
            rng, patterns, known["values"], known["keys"]
        )
        sent += 1
        described = f"{method} {path!r}?{query[:80]!r} {headers} {body[:80]!r}"
        try:
            response = send(app, path, method, query, body, headers)
        except Exception as error:  # escaped the application: the server's bare 500
            failures.append(f"raised {type(error).__name__}: {described}")
            continue
        status = response.status_int
        if status >= 500:
            failures.append(f"{status}: {described} -> {response.body[:200]!r}")
        elif status >= 400 and path.startswith("/api/") and method != "HEAD":
            jwt_shape = status == 401 and b'"description"' in response.body
            if not (is_api_error(response.body, status) or jwt_shape):
                failures.append(f"shape {status}: {described} -> {response.body[:200]!r}")
    return sent, failures


def test_every_route_survives_the_raw_fuzzer(app, known, capsys):
    sent, failures = fuzz(app, known, SEED, REQUESTS)
    with capsys.disabled():
        print(f"\nraw fuzzer: {sent} requests, {len(failures)} failures")
    assert sent >= 300, "the fuzzer ran too slowly to mean anything"
    assert not failures, "\n".join(failures[:30])


def test_the_lean_paths_survive_the_raw_fuzzer(make_app, redis_client, redis_url, known, capsys):
    """The same with Redis: the API cache and the lean delivery path stand in front."""
    app = make_app(redis__url=redis_url)
    sent, failures = fuzz(app, known, SEED + 1, REQUESTS // 3)
    with capsys.disabled():
        print(f"\nraw fuzzer with Redis: {sent} requests, {len(failures)} failures")
    assert not failures, "\n".join(failures[:30])
