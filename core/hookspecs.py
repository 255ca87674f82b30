"""The whole plugin contract on one page.

A plugin is a module of functions marked with `core.hookspecs.hookimpl`, declared as an entry
point in one of the groups below and switched on by name in the .ini.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

import pluggy

PROJECT_NAME = "crowdnest"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# Entry-point group of each kind of plugin, and the setting that lists the enabled ones.
GROUPS = {
    "importers": "crowdnest.importers",
    "auth_providers": "crowdnest.auth_providers",
    "schedulers": "crowdnest.schedulers",
    "webhooks": "crowdnest.webhooks",
    "pro": "crowdnest.pro",
}


# --- Types a plugin receives or returns -------------------------------------------------------


@dataclass
class SchedulerOptions:
    """What the caller of newtask asked for, plus the shared stores a scheduler may keep state
    in. The last three are the lean path's (core.delivery): `hints`, this process's hints a
    lean form may keep between requests (checked before use); `counting`, set when the lean
    form counts the request itself (LeanForm.counts: a Counting), and `counted`,
    the count it then puts back. `spare`, for a scheduler that counts pending hand-outs
    (Scheduler.pending): how many candidates to read beyond `limit` (core.services.pending
    keeps those the rule allows); None otherwise."""

    limit: int = 1
    offset: int = 0
    orderby: str = "id"
    desc: bool = False
    redis: object = None
    settings: dict = field(default_factory=dict)
    hints: dict = field(default_factory=dict)
    counting: "Counting | None" = None
    counted: int | None = None
    spare: int | None = None


class Counting(NamedTuple):
    """What a lean form that counts (`LeanForm.counts`) needs to count the request and stamp
    its hand-outs itself, in its own Redis calls: `window` (the rate-limit counter, its expiry,
    the limit), `stamps` (the guard's key prefix, value, ttl), `reset` (the window's reset
    epoch). It sets `options.counted` to the request's count; over the limit it reserves and
    stamps nothing."""

    window: tuple
    stamps: tuple
    reset: int


@dataclass
class Volunteer:
    """Who asks for a task: the signed-in user, else the external user id, else the IP
    pseudonym; `key` is the identity the guard and the schedulers know them by."""

    user: object
    user_ip: str
    external_uid: str | None
    key: str = ""


@runtime_checkable
class LeanStore(Protocol):
    """What a LeanForm runs its statements on (core.delivery gives one of two: the request's
    pooled connection, or, for a project served before, a store whose first `rows` also reads
    the project and the caller). Statements are SQLAlchemy queries, compiled once per `key`
    (a tuple naming everything that changes their SQL text), their values bound from
    `params`."""

    def rows(self, key: tuple, build: Callable, params: dict) -> list[dict]:
        """The rows of the query `build()` makes, as dicts."""

    def batch(self, statements: list[tuple]) -> list[list[dict]]:
        """The rows of each (key, build, params) statement, run in order in one round trip."""

    def admit(self, participant: "Volunteer") -> "Volunteer | None":
        """The volunteer as this store read them, before the form writes anything; None: the
        application must answer."""

    def project(self, project) -> object:
        """The project as this store read it (its newtask columns: id, short_name, sched,
        pending_ttl...), once `admit` has returned a volunteer; else `project` itself."""


@dataclass(frozen=True)
class LeanForm:
    """A scheduler's fast form, run by the lean delivery path: `run(store, project, volunteer,
    options) -> list[dict] | None` (`store` a LeanStore; None hands the request to the
    application). `carries`:
    it reads the volunteer only as `:who`, so the project and caller ride along its one
    statement; `counts`: it counts the request and stamps its hand-outs in its own Redis calls
    (options.counting, options.counted)."""

    run: Callable
    carries: bool = False
    counts: bool = False

    def __call__(self, store, project, volunteer, options):
        return self.run(store, project, volunteer, options)


# Compared and hashed by identity: the lean path finds a gate's composed scripts per request.
@dataclass(frozen=True, eq=False)
class AnswerGate:
    """What a scheduler that holds tasks for volunteers (`locked`) adds to the answering of
    its projects' tasks, on both delivery paths. The application's path (submit):
    `admits(db, redis, project, task_id, participant_key, settings) -> bool` before anything
    is stored (False: "You must request a task first!"; `task_id` as the body gives it), and
    `answered(db, redis, project, task_id, participant_key, n_task_runs, settings)` once the
    answer is counted (the task now has `n_task_runs` runs), in its transaction. The lean path
    (core.delivery) runs the same checks inside its own two Redis calls, one round trip each:
    `read_lua` defines `gate_read(keys, args)`, run after the request is counted, its value
    returned to Python, where `live(value, now) -> bool` judges it (False: the application's
    path answers); its keys and arguments are `read_call(task_id, participant_key, now)`,
    `now` read from `now()`. `release_lua` defines `gate_release(keys, args)`, run after the
    answer's commit with `release_call(project_id, task_id, participant_key, n_task_runs,
    settings)`'s keys and arguments. `purge(db) -> int`: what the gate keeps in the database
    and has expired deleted (`crowdnest guard purge`), returning how many rows went;
    `forget(db, participant_key)`: what it holds for a deleted account let go."""

    admits: Callable
    answered: Callable
    now: Callable
    read_lua: str
    read_call: Callable
    live: Callable
    release_lua: str
    release_call: Callable
    purge: Callable
    forget: Callable


@dataclass(frozen=True)
class Scheduler:
    """A scheduler: `select(db, project, volunteer, options) -> list[Task]`, and optionally
    its lean form and what it adds to answering (`answers`: AnswerGate). A plugin may also
    return the plain function: core wraps it.

    `pending`: it counts tasks handed out and not yet answered (decision 25). Its `select` and
    lean form then return candidates in order of preference, up to `options.limit +
    options.spare` of them (each with its `n_task_runs` and `n_answers`; a lean form's rows
    carry `n_task_runs` when `options.spare` is set: plugins.schedulers.base.shown), and core
    (core.services.pending) hands out the first ones the rule allows, at most `most` (None:
    `options.limit`); it may not have an AnswerGate of its own."""

    select: Callable
    lean: LeanForm | None = None
    answers: AnswerGate | None = None
    pending: bool = False
    most: int | None = None

    def __call__(self, db, project, volunteer, options):
        return self.select(db, project, volunteer, options)


def as_scheduler(provided) -> Scheduler:
    """A plugin's scheduler as core uses it (a plain function becomes a Scheduler)."""
    return provided if isinstance(provided, Scheduler) else Scheduler(provided)


# --- Start-up --------------------------------------------------------------------------------


@hookspec
def crowdnest_includeme(config):
    """Called once at start-up with the Pyramid Configurator, after the database, cache,
    security and plugin manager are set up and before the API and web routes are added.

    A plugin adds its own routes, views or settings here. Returns nothing.
    """


@hookspec
def crowdnest_settings():
    """Called when the plugin is loaded, before anything reads the settings. Return a dict
    {key: (default, type)} of the settings this plugin reads, `type` one of str, int, float,
    bool or list (a list is written in the .ini as words or lines).

    Keys are namespaced by the plugin (`importer.flickr.api_key`, `webhooks.timeout`). Core
    takes each value from the CROWDNEST_* variable (`importer.flickr.api_key` is
    CROWDNEST_IMPORTER_FLICKR_API_KEY), else the .ini, else the default, and coerces it once:
    the plugin then reads `settings[key]` with its type. A key that core or another enabled
    plugin already declares stops the start-up.
    """


# --- Task delivery ----------------------------------------------------------------------------


@hookspec
def crowdnest_schedulers():
    """Return a dict {name: scheduler} of the task schedulers this plugin provides.

    A scheduler is a callable `(db, project, participant, options) -> list[Task]`; projects choose
    one by `info.sched`, the .ini names the default.
    """


@hookspec
def crowdnest_task_completed(project, task, result, payload, settings):
    """Called after the commit that completed `task` and created `result`; `settings` are the
    application's settings (plugin settings are namespaced `<kind>.<name>.<key>`).

    `payload` is PYBOSSA's webhook payload (event, project_short_name, project_id, task_id,
    result_id, fired_at). Returns nothing; errors are logged, not raised.
    """


# --- Importers and sign-in ---------------------------------------------------------------------


@hookspec
def crowdnest_importers():
    """Called once at start-up. Return a dict {name: importer} of the task importers this plugin
    provides; the import page offers them in the order plugins.importers lists the plugins.

    An importer has `name`, `title`, `description`, `fields` (a tuple of
    core.services.importer.ImportField: the form fields it needs, kind "url", "text" or "file")
    and `records(values, settings)`, a generator of one dict per task (values: field name ->
    submitted text, or the upload for a "file" field). It raises
    core.services.importer.ImporterError(message, field) on bad input. Record keys quorum,
    calibration, priority_0, n_answers and user_pref become task fields, the others go into
    `info`; records whose info a task of the project already has are skipped.
    """


@hookspec
def crowdnest_auth_providers():
    """Called once at start-up. Return a dict {name: provider} of the sign-in providers this
    plugin provides; core owns the routes /account/signin/<name>[/callback], the accounts and
    the kept tokens (/api/token), a provider only speaks its protocol.

    A provider has `name`, `title` and two methods, given the application's settings (its own
    are `auth_provider.<name>.<key>`) and the absolute callback URL:
    `authorize_url(settings, callback_url, state) -> (url, pending)`, the URL to send the browser
    to (carrying `state` back to the callback) and a JSON-able dict kept in the session until
    the callback; `fetch_identity(settings, callback_url, params, pending)`, given the callback's
    query parameters (`state` already checked), returns a core.services.oauth.Identity
    (provider_user_id, name, fullname, email, email_verified, token) or raises
    core.services.oauth.SignInError(message) for a refusal the visitor should read.
    """
