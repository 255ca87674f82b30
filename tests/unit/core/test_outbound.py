"""core.outbound: requests to user-given URLs never reach addresses the rules refuse."""

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import outbound


class Handler(BaseHTTPRequestHandler):
    """/redirect?to=<url> answers 302 to <url>; any other path answers 200 "ok"."""

    def do_GET(self):
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def only_ten_is_private(monkeypatch):
    """Treat 127.0.0.1 as public (the test server) and 10.0.0.0/8 as private."""
    private = ipaddress.ip_network("10.0.0.0/8")
    monkeypatch.setattr(outbound, "forbidden", lambda address: address in private)


def test_loopback_is_refused_unless_allowed(server):
    with pytest.raises(outbound.Refused):
        outbound.request("GET", f"{server}/", timeout=5)

    response = outbound.request("GET", f"{server}/", timeout=5, allow_private=True)
    assert (response.status, response.read()) == (200, b"ok")


def test_every_redirect_hop_is_checked(server, only_ten_is_private):
    followed = outbound.request("GET", f"{server}/redirect?to={server}/next", redirects=2)
    assert followed.status == 200

    with pytest.raises(outbound.Refused, match=r"10\.1\.2\.3"):
        outbound.request("GET", f"{server}/redirect?to=http://10.1.2.3/", redirects=2)


def test_redirects_are_not_followed_unless_asked(server, only_ten_is_private):
    response = outbound.request("GET", f"{server}/redirect?to=http://10.1.2.3/")

    assert response.status == 302


def test_too_many_redirects_fail(server, only_ten_is_private):
    loop = f"{server}/redirect?to={server}/redirect?to={server}/"
    with pytest.raises(ConnectionError, match="redirects"):
        outbound.request("GET", loop, redirects=1)


def test_the_host_is_resolved_once_and_the_checked_address_is_used(
    server, only_ten_is_private, monkeypatch
):
    port = int(server.rsplit(":", 1)[1])
    lookups = []
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        # First answer for the name: the test server; a later one would point somewhere private.
        if host != "rebinding.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        return real("127.0.0.1" if len(lookups) == 1 else "10.9.9.9", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    response = outbound.request("GET", f"http://rebinding.test:{port}/", timeout=5)

    assert response.status == 200
    assert lookups == ["rebinding.test"]


def test_bad_schemes_are_refused():
    for url in ("ftp://example.org/", "file:///etc/passwd", "http:///nohost"):
        with pytest.raises(outbound.Refused):
            outbound.request("GET", url)
