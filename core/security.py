"""Who is calling: api_key (query or raw Authorization header), session cookie, client IP."""

import functools
import hashlib
import hmac
import ipaddress
import re
import time
from urllib.parse import parse_qsl

from pyramid.csrf import SessionCSRFStoragePolicy
from pyramid.interfaces import ICSRFStoragePolicy
from pyramid.security import Allowed
from pyramid.session import JSONSerializer, SignedCookieSessionFactory
from sqlalchemy import JSON, bindparam, func, select
from zope.interface import implementer

from core.db import loaded, read, reads_alone
from core.inputs import ascii_digits
from core.models import ProjectOwner, User
from core.models.clauses import owned_project_ids

SESSION_USER_KEY = "user_id"
# The account's session_epoch when the session was issued (absent in older sessions: 0).
SESSION_EPOCH_KEY = "epoch"
# The account's creation time: a session opens only the account it was issued for, even were
# its id ever given to another account (absent in older sessions: not checked).
SESSION_CREATED_KEY = "created"


class CrowdnestSecurityPolicy:
    """Identity is a User row or None; the api_key wins over the session, as PYBOSSA does."""

    def identity(self, request):
        return request.user

    def authenticated_userid(self, request):
        return request.user.id if request.user is not None else None

    def permits(self, request, context, permission):
        # Authorization is per domain object (core.services.permissions), not per view.
        return Allowed("checked by the domain layer")

    def remember(self, request, userid, **kw):
        user = request.dbsession.get(User, userid)
        request.session[SESSION_USER_KEY] = userid
        request.session[SESSION_EPOCH_KEY] = (user.session_epoch or 0) if user else 0
        request.session[SESSION_CREATED_KEY] = user.created if user else None
        return []

    def forget(self, request, **kw):
        request.session.invalidate()
        return []


def api_key_of(request) -> str | None:
    """The raw Authorization header replaces ?api_key= (PYBOSSA sends the key itself)."""
    header = request.headers.get("Authorization")
    if header and not header.lower().startswith("bearer "):
        return header.strip()
    return request.GET.get("api_key") or None


def session_is_current(session, user: User) -> bool:
    """True while the account has not signed out nor changed its password since `session`,
    and is the account `session` was issued for."""
    # A signed cookie cannot be taken back: a copied one is refused by its epoch instead.
    return (
        session.get(SESSION_EPOCH_KEY, 0) == (user.session_epoch or 0)
        and session.get(SESSION_CREATED_KEY, user.created) == user.created
    )


# session.info key: (an account's id, the ids of the projects it owns), read with the account
# (user_by_api_key); core.services.query.owned_ids takes them from there.
OWNED = "crowdnest.owned"


@functools.lru_cache(maxsize=2)
def _by_api_key(with_owned: bool):
    columns = [*User.__table__.columns]
    if with_owned:
        # The account's projects in the same round trip: an API client's list asks next.
        owned = owned_project_ids(User).with_only_columns(
            func.json_agg(ProjectOwner.project_id, type_=JSON)
        )
        columns.append(owned.scalar_subquery().label(OWNED))
    return select(*columns).where(User.api_key == bindparam("api_key"))


def user_by_api_key(db, key: str) -> User | None:
    """The account whose api key is `key`, part of the session `db`.

    Read outside the session's transaction where it can (core.db.read): an API client's
    request then pays one round trip for it, and a read that follows none for BEGIN/COMMIT.
    That round trip also brings the ids of the projects it owns (session.info[OWNED])."""
    alone = reads_alone(db)
    keys, rows = read(db, _by_api_key(alone), {"api_key": key})
    if not rows:
        return None
    values = dict(zip(keys, rows[0], strict=True))
    user = loaded(db, User, values)
    if alone:
        db.info[OWNED] = (user.id, values[OWNED] or [])
    return user


def _resolve_user(request):
    key = api_key_of(request)
    if key:
        user = user_by_api_key(request.dbsession, key)
        if user is not None:
            request._auth_method = "api_key"
            return user
    user_id = request.session.get(SESSION_USER_KEY)
    if user_id is not None:
        user = request.dbsession.get(User, user_id)
        if user is not None and session_is_current(request.session, user):
            request._auth_method = "session"
            return user
    return None


CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")
# The longest issue time a token may carry (digits of a Unix time, with room to spare).
CSRF_TIME_DIGITS = 12


@implementer(ICSRFStoragePolicy)
class TimedCSRFStoragePolicy:
    """CSRF tokens tied to the session and valid `max_age` seconds, as Flask-WTF's (3600 s,
    behavior.md 9.2): a token is `<issued>.<HMAC of issued under the session's own secret>`."""

    def __init__(self, max_age: int):
        self.sessions = SessionCSRFStoragePolicy()
        self.max_age = max_age

    def _token(self, secret: str, issued: int) -> str:
        signature = hmac.new(secret.encode(), str(issued).encode(), hashlib.sha256).hexdigest()
        return f"{issued}.{signature}"

    def new_csrf_token(self, request) -> str:
        return self._token(self.sessions.new_csrf_token(request), int(time.time()))

    def get_csrf_token(self, request) -> str:
        return self._token(self.sessions.get_csrf_token(request), int(time.time()))

    def check_csrf_token(self, request, supplied: str, expires: bool = True) -> bool:
        """Is `supplied` a token of this session, and (`expires`) younger than max_age?"""
        issued, _, _signature = supplied.partition(".")
        if not ascii_digits(issued) or len(issued) > CSRF_TIME_DIGITS:
            return False
        age = time.time() - int(issued)
        # A minute of clock skew between the workers that issued and check it.
        if expires and not -60 <= age <= self.max_age:
            return False
        expected = self._token(self.sessions.get_csrf_token(request), int(issued))
        return hmac.compare_digest(expected.encode(), supplied.encode())


def csrf_header_token(request) -> str | None:
    """The CSRF token a client sent in a header (Flask-WTF's two spellings)."""
    return next((request.headers[h] for h in CSRF_HEADERS if request.headers.get(h)), None)


def csrf_token_valid(request, supplied, expires: bool = True) -> bool:
    """Is `supplied` a CSRF token of the session (and, `expires`, younger than csrf.max_age)?"""
    policy = request.registry.getUtility(ICSRFStoragePolicy)
    return (
        isinstance(supplied, str)
        and bool(supplied)
        and policy.check_csrf_token(request, supplied, expires=expires)
    )


# Query parameters that carry credentials: the api key, a mailed link's signed key, the CSRF
# token of state-changing GETs, OAuth tokens.
SECRET_QUERY = re.compile(r"(?i)(?<![A-Za-z0-9_])(api_key|key|csrf|token)=[^&\s#\"']*")


def redact_url(text: str) -> str:
    """`text` with the values of credential query parameters (`api_key=`...) masked."""
    return SECRET_QUERY.sub(r"\1=***", text)


def address_of(environ, settings) -> str:
    """The caller's address; X-Forwarded-For is trusted only when proxy.trusted is set."""
    address = environ.get("REMOTE_ADDR") or "127.0.0.1"
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if settings["proxy.trusted"] and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            address = hops[-min(settings["proxy.count"], len(hops))]
    return address


def client_ip(request) -> str:
    return address_of(request.environ, request.registry.settings)


@functools.lru_cache(maxsize=4096)
def pseudonymise_ip(address: str, key: str) -> str:
    """A stable keyed pseudonym that keeps the look of an IPv4 address; not reversible.

    A pure function of its arguments, remembered for the addresses seen last (the same
    volunteers ask again and again)."""
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        pass
    digest = hmac.new(key.encode(), address.encode(), hashlib.sha256).digest()
    return ".".join(str(byte) for byte in digest[:4])


SESSION_COOKIE = "crowdnest_session"


def may_carry_session(environ) -> bool:
    """Whether the raw Cookie header may carry the session: its name anywhere, since WebOb
    also reads `crowdnest_session =...` (blanks around the `=`). For the middlewares in front
    of Pyramid (the API cache, the lean delivery path), which leave such requests to it."""
    return SESSION_COOKIE in environ.get("HTTP_COOKIE", "")


def query_pairs(environ) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs as WebOb reads them: split on `&` and `;`."""
    return parse_qsl(environ.get("QUERY_STRING", "").replace(";", "&"), keep_blank_values=True)


def includeme(config):
    settings = config.get_settings()
    config.set_session_factory(
        SignedCookieSessionFactory(
            settings["session.secret"],
            cookie_name=SESSION_COOKIE,
            httponly=True,
            samesite="Lax",
            secure=settings["session.secure"],
            max_age=settings["session.max_age"],
            timeout=None,
            serializer=JSONSerializer(),
        )
    )
    config.set_csrf_storage_policy(TimedCSRFStoragePolicy(settings["csrf.max_age"]))
    config.set_security_policy(CrowdnestSecurityPolicy())
    config.add_request_method(
        lambda request: (request.user, getattr(request, "_auth_method", None))[1],
        "auth_method",
        reify=True,
    )
    config.add_request_method(_resolve_user, "user", reify=True)
    config.add_request_method(client_ip, "client_ip", reify=True)
    config.add_request_method(
        lambda request: pseudonymise_ip(
            request.client_ip, request.registry.settings["ip.pseudonym_key"]
        ),
        "user_ip",
        reify=True,
    )
