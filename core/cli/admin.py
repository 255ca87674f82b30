"""`crowdnest db|user|plugins|guard|cache`: the schema, accounts, plugins and housekeeping."""

import getpass
import logging
import sys
import uuid

from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, or_, select

from core import cache, generations, migrate
from core.cli.common import CommandError, safe_url
from core.db import Base, get_engine, own_session
from core.hookspecs import GROUPS
from core.models import User
from core.passwords import hash_password
from core.plugins import installed_plugins
from core.redis import get_redis
from core.services.account_data import answer_gates
from core.services.guard import purge_expired

# --- db ----------------------------------------------------------------------------------------


def current_revision(settings: dict) -> str | None:
    engine = get_engine(settings)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


class _ProgressHandler(logging.Handler):
    """Echo alembic's `Running upgrade a -> b` lines as progress on standard output.

    The lines of loggers below alembic.runtime.migration (a migration's own progress, such as
    0008's backfill) are echoed too, indented under their step.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Running upgrade"):
            self.steps += 1
            print(f"  {record.getMessage()}")
        elif record.name.startswith("alembic.runtime.migration."):
            print(f"    {record.getMessage()}")


def db_upgrade(settings: dict, args) -> int:
    url = settings["sqlalchemy.url"]
    print(f"upgrading {safe_url(url)} to head")
    alembic_log = logging.getLogger("alembic.runtime.migration")
    progress, level = _ProgressHandler(), alembic_log.level
    alembic_log.addHandler(progress)
    alembic_log.setLevel(logging.INFO)
    try:
        migrate.upgrade(url)
    finally:
        alembic_log.removeHandler(progress)
        alembic_log.setLevel(level)
    done = f"applied {progress.steps} migration(s)" if progress.steps else "nothing to apply"
    print(f"{done}; database at revision {current_revision(settings)}")
    return 0


# --- user --------------------------------------------------------------------------------------


def _user(db, name: str):
    user = db.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise CommandError(f"no user named {name!r}")
    return user


def _password(args) -> str:
    if args.password is not None:
        password = args.password
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password: use --password-stdin")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CommandError("the two passwords differ")
    if not password:
        raise CommandError("the password must not be empty")
    return password


def _refuse_taken(db, name: str, email: str) -> None:
    taken = db.scalars(
        select(User).where(or_(User.name == name, func.lower(User.email_addr) == email.lower()))
    ).first()
    if taken is not None:
        what = f"name {name!r}" if taken.name == name else f"email {email!r}"
        raise CommandError(f"a user with the {what} already exists")


def user_create(settings: dict, args) -> int:
    if "@" not in args.email:
        raise CommandError(f"{args.email!r} is not an email address")
    # Refuse a duplicate before asking for a password, and hold no transaction while asking.
    with own_session(settings) as db:
        _refuse_taken(db, args.name, args.email)
    password_hash = hash_password(_password(args))
    with own_session(settings) as db:
        _refuse_taken(db, args.name, args.email)
        user = User(
            name=args.name,
            email_addr=args.email,
            fullname=args.fullname or args.name,
            passwd_hash=password_hash,
            admin=args.admin,
        )
        db.add(user)
        db.flush()
    role = "admin" if user.admin else "user"
    print(f"created {role} {user.name!r} (id {user.id})")
    print(f"api key: {user.api_key}")
    return 0


def user_list(settings: dict, args) -> int:
    with own_session(settings) as db:
        users = list(db.scalars(select(User).order_by(User.id)))
    if not users:
        print("no users")
        return 0
    print(f"{'id':>5}  {'name':<20} {'email':<30} admin")
    for user in users:
        admin = "yes" if user.admin else "no"
        print(f"{user.id:>5}  {user.name:<20} {user.email_addr:<30} {admin}")
    return 0


def user_admin(settings: dict, args) -> int:
    with own_session(settings) as db:
        user = _user(db, args.name)
        user.admin = args.admin
    print(f"{args.name!r} is {'now' if args.admin else 'no longer'} an admin")
    return 0


def user_reset_api_key(settings: dict, args) -> int:
    with own_session(settings) as db:
        user = _user(db, args.name)
        user.api_key = str(uuid.uuid4())
    print(f"new api key for {args.name!r}: {user.api_key}")
    return 0


# --- plugins and guard -------------------------------------------------------------------------


def list_plugins(settings: dict, args) -> int:
    """Every installed plugin per kind, whether the .ini enables it, and names it lacks."""
    installed = installed_plugins()
    missing = 0
    for kind in GROUPS:
        enabled = settings[f"plugins.{kind}"]
        print(f"{kind} (entry point group {GROUPS[kind]}, setting plugins.{kind}):")
        for name, entry_point in sorted(installed[kind].items()):
            state = "enabled " if name in enabled else "disabled"
            print(f"  {name:<20} {state}  {entry_point.value}")
        for name in enabled:
            if name not in installed[kind]:
                missing += 1
                print(f"  {name:<20} MISSING   listed in plugins.{kind} but not installed")
        if not installed[kind] and not enabled:
            print("  (none installed)")
    return 1 if missing else 0


def guard_purge(settings: dict, args) -> int:
    # What the enabled schedulers' answer gates keep (`locked`'s reservations) expires too.
    gates = answer_gates(settings)
    with own_session(settings) as db:
        purged = purge_expired(db)
        released = sum(gate.purge(db) for gate in gates)
    print(f"purged {purged} expired task hand-out(s) and {released} expired reservation(s)")
    return 0


def cache_clear(settings: dict, args) -> int:
    """Forget every cached answer: after writes made behind SQLAlchemy's back (psql, COPY)."""
    cache.bump_all(cache.build_region(settings))
    redis = get_redis(settings["redis.url"])
    if redis is not None:
        generations.bump_all(redis, Base.metadata)
    where = "Redis and the cache region" if redis is not None else "the cache region"
    print(f"cached listings and API answers forgotten ({where})")
    return 0


# --- the parser --------------------------------------------------------------------------------


def add_parser(commands) -> None:
    """The db, user, plugins, guard and cache commands."""
    db = commands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("upgrade", help="alembic upgrade head").set_defaults(run=db_upgrade)

    user = commands.add_parser("user", help="accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    create = user_commands.add_parser("create", help="create an account, print its api key")
    create.add_argument("name")
    create.add_argument("email")
    create.add_argument("--fullname", help="display name (default: NAME)")
    create.add_argument("--admin", action="store_true", help="make the account an admin")
    secret = create.add_mutually_exclusive_group()
    secret.add_argument("--password", help="the password (default: prompt for it)")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(run=user_create)
    user_commands.add_parser("list", help="list accounts").set_defaults(run=user_list)
    admin = user_commands.add_parser("admin", help="grant or revoke admin rights")
    admin.add_argument("name")
    switch = admin.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="admin", action="store_true", default=None)
    switch.add_argument("--off", dest="admin", action="store_false")
    admin.set_defaults(run=user_admin)
    reset = user_commands.add_parser("reset-api-key", help="give an account a new api key")
    reset.add_argument("name")
    reset.set_defaults(run=user_reset_api_key)

    plugins = commands.add_parser("plugins", help="installed plugins and which are enabled")
    plugins.set_defaults(run=list_plugins)

    guard = commands.add_parser("guard", help="the contributions guard")
    guard_commands = guard.add_subparsers(dest="guard_command", required=True, metavar="COMMAND")
    purge = guard_commands.add_parser(
        "purge", help="delete expired task hand-outs and what schedulers hold for volunteers"
    )
    purge.set_defaults(run=guard_purge)

    cache_command = commands.add_parser("cache", help="cached pages and API answers")
    cache_commands = cache_command.add_subparsers(
        dest="cache_command", required=True, metavar="COMMAND"
    )
    cache_commands.add_parser(
        "clear", help="forget every cached answer (after writes outside Crowdnest)"
    ).set_defaults(run=cache_clear)
