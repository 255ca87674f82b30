"""One signed HTTP POST to a webhook URL, refusing addresses a server should not reach.

The host is resolved once, every address it resolves to is checked, and the connection goes to
the checked address (a second lookup could answer differently: DNS rebinding). Redirects are
not followed: a redirect could lead anywhere.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Crowdnest-Signature"
# Bytes of the receiver's answer kept in the delivery log.
EXCERPT_BYTES = 1000


class Refused(Exception):
    """The URL is not one Crowdnest will send to (bad scheme, private address...)."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, keyed with the project's secret key."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for loopback, private, link-local, multicast, reserved and unspecified addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def resolve(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to; Refused when any address of the host is forbidden."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise ConnectionError(f"cannot resolve {host}: {error}") from None
    addresses = [ipaddress.ip_address(sockaddr[0].split("%")[0]) for *_, sockaddr in found]
    if not allow_private:
        refused = [str(address) for address in addresses if forbidden(address)]
        if refused:
            raise Refused(f"{host} resolves to a private or reserved address ({refused[0]})")
    return [str(address) for address in addresses]


def _open_socket(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of the checked addresses that answers."""
    failure: OSError = ConnectionError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            failure = error
    raise failure


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked addresses, whatever the host name resolves to by now."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self):
        self.sock = _open_socket(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked addresses; the certificate is still checked against the host."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.addresses = addresses

    def connect(self):
        sock = _open_socket(self.addresses, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> Answer:
    """POST `body` to `url`. Raises Refused, or OSError (including timeouts) when it fails."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the webhook URL must be an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the webhook URL has an invalid port") from None
    addresses = resolve(parts.hostname, port, allow_private)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(parts.hostname, port, addresses, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
        return Answer(response.status, excerpt)
    except http.client.HTTPException as error:
        raise ConnectionError(f"bad HTTP answer: {error!r}") from None
    finally:
        connection.close()
