"""Where a list request spends its CPU, in process: the parts of the Pyramid path, per request.

Builds the application from production.ini (as benchmarks/api_list.py's gunicorn would, API
cache off) over an already seeded database (`api_list.py` seeds one), calls it directly as a
WSGI application --requests times per endpoint, and prints the CPU time per request
(time.process_time, no profiler) and, with --breakdown, a cProfile of the same requests cut
into the parts of the path: middlewares, pyramid_retry, pyramid_tm, tweens, routing, the api
key's account, the rate limit, Cornice, building and running the list query, serialising and
rendering: CPU time by default (--wall: wall clock, which on a shared machine is mostly waiting
for a core). Profiled figures are inflated by the profiler; read them as shares.

    python benchmarks/api_profile.py [--db URL] [--redis URL] [--requests N] [--only TEXT]
                                     [--breakdown] [--wall] [--newtask]

No server, no load generator: figures that do not depend on other processes sharing the CPU.
Not a test.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

from api_list import DEFAULT_DB, api_keys, endpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, file suffix, function name): the cumulative time of each part's entry point. The
# Pyramid path's front, the same for every request profiled; each request's own parts follow.
FRONT_PARTS = {
    "total": ("api_profile.py", "call"),
    "router": ("pyramid/router.py", "__call__"),
    "tm": ("pyramid_tm/__init__.py", "tm_tween"),
    "excview": ("pyramid/tweens.py", "excview_tween"),
    "handle": ("pyramid/router.py", "handle_request"),
    "subscribers": ("pyramid/registry.py", "notify"),
    "account": ("core/security.py", "_resolve_user"),
    "view": ("pyramid/viewderivers.py", "rendered_view"),
}
FRONT_ROWS = (
    ("WSGI middlewares (inbound, delivery)", lambda p: p["total"] - p["router"]),
    ("router entry + pyramid_retry", lambda p: p["router"] - p["tm"]),
    ("pyramid_tm (begin, commit)", lambda p: p["tm"] - p["excview"]),
    ("excview + refusal tweens", lambda p: p["excview"] - p["handle"]),
    ("routing, request, response", lambda p: p["handle"] - p["subscribers"] - p["view"]),
    ("api key's account", lambda p: p["account"]),
    ("rate limit, other subscribers", lambda p: p["subscribers"] - p["account"]),
)
PARTS = {
    **FRONT_PARTS,
    "collection_get": ("core/api/base.py", "collection_get"),
    "build": ("core/services/query.py", "build_list_query"),
    "owned": ("core/services/query.py", "owned_ids"),
    "run": ("core/services/query.py", "run_list"),
    "extras": ("core/api/task.py", "list_extras"),
    "serialise": ("core/serializers.py", "dictize_listed"),
    "render": ("pyramid/renderers.py", "render_view"),
}
ROWS = (
    *FRONT_ROWS,
    ("Cornice, view derivers", lambda p: p["view"] - p["collection_get"] - p["render"]),
    ("list query built", lambda p: p["build"] - p["owned"]),
    ("owned project ids read", lambda p: p["owned"]),
    ("list query run, rows fetched", lambda p: p["run"]),
    ("list extras (favourites)", lambda p: p["extras"]),
    ("serialised (dictize_listed)", lambda p: p["serialise"]),
    ("rendered (orjson)", lambda p: p["render"]),
    ("total", lambda p: p["total"]),
)


# Newtask through Pyramid (--newtask; the lean path of core/delivery.py off): its own parts.
NEWTASK_PARTS = {
    **FRONT_PARTS,
    "newtask": ("core/api/newtask.py", "get_newtask"),
    "project": ("core/api/newtask.py", "_project"),
    "participant": ("core/services/task_run.py", "of"),
    "can": ("core/services/permissions.py", "can"),
    "scheduler": ("plugins/schedulers/base.py", "page"),
    "stamp": ("core/services/guard.py", "stamp"),
    "payload": ("core/services/answers.py", "newtask_payload"),
    "render": ("pyramid/renderers.py", "render_view"),
}
NEWTASK_ROWS = (
    *FRONT_ROWS,
    ("Cornice, view derivers", lambda p: p["view"] - p["newtask"] - p["render"]),
    ("project read", lambda p: p["project"]),
    ("participant, admission (can)", lambda p: p["participant"] + p["can"]),
    ("scheduler's query", lambda p: p["scheduler"]),
    ("guard stamp (Redis)", lambda p: p["stamp"]),
    ("payload", lambda p: p["payload"]),
    (
        "rest of the view",
        lambda p: (
            p["newtask"]
            - p["project"]
            - p["participant"]
            - p["can"]
            - p["scheduler"]
            - p["stamp"]
            - p["payload"]
        ),
    ),
    ("rendered (orjson)", lambda p: p["render"]),
    ("total", lambda p: p["total"]),
)


def newtask_endpoints(keys: dict[str, str]) -> list[tuple[str, str]]:
    """Newtask of project 1, anonymous and with the volunteer's key (their `default` page)."""
    return [
        ("newtask, anonymous", "/api/project/1/newtask"),
        ("newtask, volunteer's key", f"/api/project/1/newtask?api_key={keys['volunteer']}"),
    ]


def build_app(db_url: str, redis_url: str, lean: bool = True):
    os.environ.update(
        {
            "CROWDNEST_SQLALCHEMY_URL": db_url,
            "CROWDNEST_REDIS_URL": redis_url,
            "CROWDNEST_RATELIMIT_LIMIT": "100000000",
            "CROWDNEST_API_CACHE": "false",
            "CROWDNEST_SESSION_SECRET": "benchmark-session-secret-of-32-bytes-or-more",
            "CROWDNEST_IP_PSEUDONYM_KEY": "benchmark-ip-pseudonym-key-of-32-bytes-or-more",
            "CROWDNEST_SITE_URL": "http://127.0.0.1",
            "CROWDNEST_DELIVERY_LEAN": "true" if lean else "false",
        }
    )
    from pyramid.paster import get_app

    return get_app(os.path.join(ROOT, "production.ini"), "main")


def call(app, path: str) -> bytes:
    """One GET through the whole WSGI stack; refuses anything but a 200."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    answered = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: answered.append(status)))
    if not answered[0].startswith("200"):
        raise SystemExit(f"{path} answered {answered[0]}: {body[:300]!r}")
    return body


def repeat(app, path: str, times: int) -> None:
    for _ in range(times):
        call(app, path)


def breakdown(profile: cProfile.Profile, requests: int, parts=PARTS, rows=ROWS) -> dict:
    """{part: profiled ms per request} of the profile's entry points."""
    stats = pstats.Stats(profile).stats
    found = dict.fromkeys(parts, 0.0)
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for part, (suffix, function) in parts.items():
            if name == function and filename.endswith(suffix):
                found[part] = max(found[part], cumulative)
    figures = {part: seconds / requests * 1000 for part, seconds in found.items()}
    return {label: share(figures) for label, share in rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="a database seeded by api_list.py")
    parser.add_argument("--redis", default="redis://localhost:6379/15")
    parser.add_argument("--tasks", type=int, default=100_000, help="as seeded")
    parser.add_argument("--requests", type=int, default=500, help="per endpoint")
    parser.add_argument("--only", help="measure only endpoints whose label contains this")
    parser.add_argument("--breakdown", action="store_true", help="also profile the parts")
    parser.add_argument(
        "--wall", action="store_true", help="profile wall-clock time instead of CPU time"
    )
    parser.add_argument(
        "--newtask",
        action="store_true",
        help="profile newtask through Pyramid (the lean path off) instead of the lists; "
        "with Redis, the default scheduler's newtask writes only Redis",
    )
    args = parser.parse_args(argv)

    app = build_app(args.db, args.redis, lean=not args.newtask)
    keys = api_keys(args.db)
    listed = newtask_endpoints(keys) if args.newtask else endpoints(args.tasks, keys)
    parts, rows = (NEWTASK_PARTS, NEWTASK_ROWS) if args.newtask else (PARTS, ROWS)
    chosen = [(label, path) for label, path in listed if not args.only or args.only in label]
    tables = {}
    print(f"{'endpoint':40} {'CPU ms/request':>15}")
    for label, path in chosen:
        for _ in range(min(50, args.requests)):
            call(app, path)
        began = time.process_time()
        for _ in range(args.requests):
            call(app, path)
        cpu = (time.process_time() - began) / args.requests * 1000
        print(f"{label:40} {cpu:15.2f}", flush=True)
        if args.breakdown:
            # CPU time by default: on a shared machine, wall clock is mostly waiting for a core.
            profile = cProfile.Profile(time.perf_counter if args.wall else time.process_time)
            profile.runcall(repeat, app, path, args.requests)
            tables[label] = breakdown(profile, args.requests, parts, rows)
    if tables:
        labels = list(tables)
        clock = "wall clock" if args.wall else "CPU time"
        print(f"\nprofiled ms per request ({clock} under cProfile; read as shares)")
        print(f"{'part':38} " + " ".join(f"{label[:22]:>22}" for label in labels))
        for row, _ in rows:
            print(f"{row:38} " + " ".join(f"{tables[label][row]:22.3f}" for label in labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
