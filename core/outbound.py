"""Outbound HTTP to URLs users give us (webhooks, import sources), refusing internal addresses.

A server that fetches a URL for a user must not become a way into the networks only it can
reach (SSRF). Each host is resolved once, every address it resolves to is checked, and the
connection goes to the checked address: a second lookup could answer differently (DNS
rebinding). Redirects are followed only when the caller allows them, and every hop is checked
the same way. Loopback, private, link-local, multicast, reserved and unspecified addresses are
refused unless `allow_private` is set (tests, intranets).
"""

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urljoin, urlsplit

REDIRECTS = {301, 302, 303, 307, 308}


class Refused(Exception):
    """The URL is not one Crowdnest will connect to (bad scheme, private address...)."""


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


def _connection(url: str, timeout: float, allow_private: bool):
    """(connection to the checked address, request target) for an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the URL must be an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL has an invalid port") from None
    addresses = resolve(parts.hostname, port, allow_private)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return kind(parts.hostname, port, addresses, timeout), target


def request(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    body: bytes | None = None,
    timeout: float = 10,
    allow_private: bool = False,
    redirects: int = 0,
) -> http.client.HTTPResponse:
    """Send one request; follow up to `redirects` redirects (GET only), checking every hop.

    Returns the response, to read and close (closing it closes its connection). Raises Refused,
    or OSError (timeouts included) and ConnectionError for a bad HTTP answer.
    """
    for _ in range(redirects + 1):
        connection, target = _connection(url, timeout, allow_private)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
        except http.client.HTTPException as error:
            connection.close()
            raise ConnectionError(f"bad HTTP answer: {error!r}") from None
        except BaseException:
            connection.close()
            raise
        location = response.getheader("Location")
        if response.status not in REDIRECTS or not location or method != "GET" or not redirects:
            return response
        response.close()
        connection.close()
        url = urljoin(url, location)
    raise ConnectionError(f"more than {redirects} redirects")
