"""Every setting Crowdnest reads: its default, its type, and the environment override."""

import os
from collections.abc import Callable, Mapping
from typing import Any

from pyramid.settings import asbool, aslist

ENV_PREFIX = "CROWDNEST_"


def _aslist(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return aslist(value or "", flatten=True)


def _asbool(value: Any) -> bool:
    return asbool(value)


def _asint(value: Any) -> int:
    return int(value)


def _asfloat(value: Any) -> float:
    return float(value)


def _asstr(value: Any) -> str:
    return "" if value is None else str(value)


# key: (default, coercion). Plugin settings are namespaced <kind>.<name>.<key>.
DEFAULTS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    # `production` (production.ini) refuses to start with default or short secrets (decision 18).
    "environment": ("development", _asstr),
    "sqlalchemy.url": ("sqlite:///%(here)s/var/crowdnest.sqlite", _asstr),
    "sqlalchemy.echo": (False, _asbool),
    "db.auto_migrate": (False, _asbool),
    "redis.url": ("", _asstr),
    # Redis is an accelerator (decision 19, core/redis.py): seconds a connection or a command
    # may take, seconds Redis is skipped after a failure, seconds between two log lines of an
    # outage.
    "redis.timeout": (1.0, _asfloat),
    "redis.pause": (5.0, _asfloat),
    "redis.log_interval": (30.0, _asfloat),
    "session.secret": ("change-me-in-production", _asstr),
    "session.secure": (False, _asbool),
    "session.max_age": (30 * 24 * 3600, _asint),
    # Anonymous /api reads cached in Redis, invalidated by table generations (core/apicache).
    "api.cache": (True, _asbool),
    "api.cache_ttl": (300, _asint),
    # newtask answered in front of Pyramid when it can be answered exactly (core/delivery).
    "delivery.lean": (True, _asbool),
    "ratelimit.limit": (300, _asint),
    "ratelimit.period": (900, _asint),
    # Credential attempts (sign-in, passwords, register: core/credentials), counted per endpoint
    # before any password is hashed: per account named, and per address (higher: a school or
    # an office signs in from one address).
    "ratelimit.credentials.limit": (10, _asint),
    "ratelimit.credentials.address_limit": (60, _asint),
    "ratelimit.credentials.period": (300, _asint),
    "proxy.trusted": (False, _asbool),
    # `json`: every log line a JSON object (core.requestlog); `text`: the .ini's format.
    "log.format": ("text", _asstr),
    # Prometheus metrics at /metrics (core.metrics): off unless on; readable from these
    # addresses (or networks) or with this bearer token; the multiprocess folder, when the
    # environment's PROMETHEUS_MULTIPROC_DIR does not name one.
    "metrics.enabled": (False, _asbool),
    "metrics.allow": ("127.0.0.1 ::1", _aslist),
    "metrics.token": ("", _asstr),
    "metrics.multiprocess_dir": ("", _asstr),
    "proxy.count": (1, _asint),
    "ip.pseudonym_key": ("crowdnest-ip-pseudonym-key-change-me", _asstr),
    "brand": ("Crowdnest", _asstr),
    "api.jwt_lifetime": (24 * 3600, _asint),
    "project.info_public_fields": ("", _aslist),
    "user.info_public_fields": ("", _aslist),
    "category.info_public_fields": ("", _aslist),
    "fulltextsearch.language": ("english", _asstr),
    "plugins.importers": ("", _aslist),
    "plugins.auth_providers": ("", _aslist),
    "plugins.schedulers": ("default", _aslist),
    "plugins.webhooks": ("", _aslist),
    # Pro features switched on (core.services.pro.FEATURES): all of them unless the .ini says
    # otherwise, so an .ini written before they were plugins keeps every feature.
    "plugins.pro": ("auditlog webhooks autoimporter better_stats updated_exports", _aslist),
    # Task importers: biggest file or download, seconds to wait for a URL, and whether a URL
    # may point at loopback or private addresses (tests and intranets only).
    "importer.max_bytes": (50 * 1024 * 1024, _asint),
    "importer.timeout": (30, _asint),
    # Large imports (more than background_threshold records) as background jobs, on `queue`;
    # an upload waits for its job as a file under spool_dir.
    "importer.background": (False, _asbool),
    "importer.background_threshold": (200, _asint),
    "importer.queue": ("default", _asstr),
    "importer.spool_dir": ("%(here)s/var/imports", _asstr),
    # Exports: rows read, encoded and compressed at a time (memory is about proportional).
    "export.batch_size": (2000, _asint),
    # Stored exports (core/services/export_store.py): where the zips are kept, how many seconds
    # one is served again for projects without `updated_exports` (the feature's plugin declares
    # its own, export.pro_max_age), and the queue of `crowdnest export --refresh-stale --enqueue`.
    "export.dir": ("%(here)s/var/exports", _asstr),
    "export.max_age": (86400, _asint),
    "export.queue": ("low", _asstr),
    "importer.allow_private_urls": (False, _asbool),
    # Background jobs (core/jobs.py): the RQ queues `crowdnest worker` serves, most urgent first,
    # a job's time limit in seconds, and, without Redis, whether a job runs in the committing
    # thread once the transaction commits ("sync") or in a thread of its own ("thread").
    "jobs.queues": ("high default low", _aslist),
    "jobs.timeout": (600, _asint),
    "jobs.inline": ("sync", _asstr),
    # Server-sent event streams /project/<short_name>/publicstream and /privatestream
    # (PYBOSSA's SSE, core/streams.py): off answers 404 and publishes nothing. A stream ends
    # after max_seconds (the browser reconnects), sends a comment every keepalive_seconds, and
    # a process holds at most max_streams at once, and max_streams_per_client of one account or
    # address (503 beyond): each holds a server thread, so keep max_streams below the threads
    # (development.ini's waitress has 8; gunicorn needs gthread workers with more threads).
    "sse.enabled": (False, _asbool),
    "sse.max_seconds": (300.0, _asfloat),
    "sse.keepalive_seconds": (15.0, _asfloat),
    "sse.max_streams": (4, _asint),
    "sse.max_streams_per_client": (2, _asint),
    # What this site's stream channels start with; empty: a digest of session.secret.
    "sse.channel_prefix": ("", _asstr),
    "scheduler.default": ("default", _asstr),
    # Seconds a task handed out and not answered counts towards its n_answers (decision 25;
    # a project's info.pending_ttl overrides it).
    "scheduler.pending_ttl": (600, _asint),
    "guard.ttl": (3600, _asint),
    "pro_features": ("", _aslist),
    "upload.dir": ("%(here)s/var/uploads", _asstr),
    "upload.allowed_extensions": ("js css png jpg jpeg gif zip", _aslist),
    "upload.max_bytes": (10 * 1024 * 1024, _asint),
    # Largest avatar or thumbnail, in pixels (width x height), checked before it is decoded:
    # decoding takes ~4 bytes a pixel (decision 22).
    "upload.max_pixels": (40_000_000, _asint),
    # Largest request bodies, refused with 413 before they are read (decision 22): multipart
    # (uploads, file imports: keep it above upload.max_bytes and importer.max_bytes) and every
    # other body (JSON, forms); and how deep a JSON body may nest.
    "request.max_json_bytes": (1024 * 1024, _asint),
    "request.max_multipart_bytes": (64 * 1024 * 1024, _asint),
    "request.max_json_depth": (64, _asint),
    "cache.backend": ("dogpile.cache.memory", _asstr),
    "cache.expiration_time": (300, _asint),
    # Rows of the public leaderboard (PYBOSSA's LEADERBOARD).
    "leaderboard.size": (20, _asint),
    # Alternative boards (PYBOSSA's LEADERBOARDS): info keys whose integer value ranks accounts,
    # shown by /leaderboard/?info=<key>; any other key is a 404.
    "leaderboard.boards": ("", _aslist),
    # Help page texts: a file of HTML, or the HTML itself; empty keeps Crowdnest's own text.
    "help.about": ("", _asstr),
    "help.privacy": ("", _asstr),
    "help.cookies_policy": ("", _asstr),
    "help.terms_of_use": ("", _asstr),
    "help.license": ("", _asstr),
    "disable_task_presenter": (False, _asbool),
    # The site's public address (https://crowdnest.example.org): links in mails (password reset,
    # e-mail confirmation, co-owners) are built on it; empty: on the request's Host header,
    # which a client chooses (development only; production warns at start).
    "site.url": ("", _asstr),
    # Where presenter frames are served from (e.g. https://presenter.example.org, the same app
    # under another name); empty: this site, each frame still sandboxed with an opaque origin.
    "presenter.origin": ("", _asstr),
    "runtime.gc_tuning": (False, _asbool),
    "disqus.public_key": ("", _asstr),
    "disqus.secret_key": ("", _asstr),
    # Accounts: e-mail confirmation on registration, lifetime of the links sent by mail.
    "account.confirm_email": (False, _asbool),
    "account.link_expiration": (5 * 3600, _asint),
    # PYBOSSA's ENABLE_STRONG_PASSWORD: new passwords of 8-15 characters with an upper-case and a
    # lower-case letter, a digit and a symbol (register, change and reset).
    "account.strong_password": (False, _asbool),
    # How long a CSRF token stays valid, seconds (Flask-WTF's 3600, behavior.md 9.2).
    "csrf.max_age": (3600, _asint),
    "account.locales": ("en es fr de it pt", _aslist),
    # Translations: the gettext domain of the templates, and folders of extra catalogs
    # (<dir>/<locale>/LC_MESSAGES/crowdnest.mo) read after core/locale.
    "jinja2.i18n.domain": ("crowdnest", _asstr),
    "jinja2.i18n.gettext": ("core.i18n.TemplateGetText", _asstr),
    "i18n.extra_dirs": ("", _aslist),
    # Mail: `smtp` (mail.host...), `debug` (files under mail.debug_dir) or `dummy` (tests).
    "mail.mailer": ("debug", _asstr),
    "mail.debug_dir": ("%(here)s/var/mail", _asstr),
    "mail.host": ("localhost", _asstr),
    "mail.port": (25, _asint),
    "mail.username": ("", _asstr),
    "mail.password": ("", _asstr),
    "mail.tls": (False, _asbool),
    "mail.ssl": (False, _asbool),
    "mail.default_sender": ("crowdnest@localhost", _asstr),
    # LDAP sign-in (/account/signin/ldap, needs the `ldap` extra): the server URL, where users
    # are, the filter finding one ({username} is the escaped login), an optional account to
    # search with, and the attributes giving the user name, full name and e-mail.
    "ldap.enabled": (False, _asbool),
    "ldap.title": ("Directory account", _asstr),
    "ldap.host": ("", _asstr),
    "ldap.base_dn": ("", _asstr),
    "ldap.user_filter": ("(uid={username})", _asstr),
    "ldap.bind_dn": ("", _asstr),
    "ldap.bind_password": ("", _asstr),
    "ldap.name_attribute": ("uid", _asstr),
    "ldap.fullname_attribute": ("cn", _asstr),
    "ldap.email_attribute": ("mail", _asstr),
    "ldap.timeout": (10, _asint),
    # ldap3's client strategy: SYNC; tests use MOCK_SYNC (an in-memory directory).
    "ldap.client_strategy": ("SYNC", _asstr),
    # Cornice must leave exceptions to core.errors (one error format).
    "handle_exceptions": (False, _asbool),
}


# The keys production refuses at their defaults, the least length of each, and the placeholders
# the shipped .ini files hold (copied lines must not pass for secrets either).
SECRET_KEYS = ("session.secret", "ip.pseudonym_key")
MIN_SECRET_BYTES = 32
PLACEHOLDER_SECRETS = {
    "development-only-secret-change-me",
    "set-CROWDNEST_SESSION_SECRET",
    "set-CROWDNEST_IP_PSEUDONYM_KEY",
}


class InsecureSettings(ValueError):
    """A production configuration that keeps a default or weak secret."""


def weak_secrets(settings: Mapping[str, Any]) -> list[str]:
    """The secret settings left at a default or placeholder, or shorter than MIN_SECRET_BYTES."""
    weak = []
    for key in SECRET_KEYS:
        value = settings[key]
        default = DEFAULTS[key][0]
        if value in (default, *PLACEHOLDER_SECRETS) or len(value.encode()) < MIN_SECRET_BYTES:
            weak.append(key)
    return weak


def check_secrets(settings: Mapping[str, Any]) -> None:
    """In production, refuse to start with a default or short secret, naming each one, or
    without `site.url` (mailed links would be built on the Host header a client chooses)."""
    if settings["environment"] != "production":
        return
    weak = weak_secrets(settings)
    if weak:
        names = ", ".join(f"{key} ({env_key(key)})" for key in weak)
        raise InsecureSettings(
            f"production refuses default or short secrets: set {names} to random values of at"
            f" least {MIN_SECRET_BYTES} bytes, e.g. python -c 'import secrets;"
            " print(secrets.token_hex(32))'"
        )
    if not settings["site.url"]:
        raise InsecureSettings(
            f"production needs site.url ({env_key('site.url')}), the public address links in"
            " mails are built on (e.g. https://crowdnest.example.org): without it a password"
            " reset link would point at whatever Host header the requester sent"
        )


def includeme(config) -> None:
    check_secrets(config.get_settings())


def env_key(key: str) -> str:
    """The variable overriding a setting: `ratelimit.limit` is CROWDNEST_RATELIMIT_LIMIT."""
    return ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper()


# What a plugin's declared type (core.hookspecs.crowdnest_settings) is coerced with.
COERCIONS: dict[type, Callable[[Any], Any]] = {
    str: _asstr,
    int: _asint,
    float: _asfloat,
    bool: _asbool,
    list: _aslist,
}


def resolve(
    declared: Mapping[str, tuple[Any, Callable[[Any], Any]]],
    settings: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    here: str = ".",
) -> dict[str, Any]:
    """Each declared key's value: the CROWDNEST_* variable's, else the .ini's, else its default;
    `%(here)s` substituted, coerced once."""
    environ = os.environ if environ is None else environ
    values = {}
    for key, (default, coerce) in declared.items():
        value = environ.get(env_key(key), settings.get(key, default))
        if isinstance(value, str):
            value = value.replace("%(here)s", here)
        values[key] = coerce(value)
    return values


def load_settings(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None, here: str = "."
) -> dict[str, Any]:
    """Merge core's defaults, the .ini values and CROWDNEST_* environment variables, coerced
    once. Plugins' own settings are added when they are loaded (core.plugins)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(settings)
    for key in list(merged):
        if env_key(key) in environ:
            merged[key] = environ[env_key(key)]
    here = merged.get("here", here)
    merged.update(resolve(DEFAULTS, merged, environ, here))
    return merged
