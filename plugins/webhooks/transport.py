"""One signed HTTP POST to a webhook URL, refusing addresses a server should not reach.

The connection is core.outbound's: the host resolved once, every address checked, the
connection made to the checked address. Redirects are not followed: a redirect could lead
anywhere.
"""

import hashlib
import hmac
import http.client
from dataclasses import dataclass

from core import outbound

# The webhook plugin catches this for a URL Crowdnest will not send to.
Refused = outbound.Refused
SIGNATURE_HEADER = "X-Crowdnest-Signature"
# Bytes of the receiver's answer kept in the delivery log.
EXCERPT_BYTES = 1000


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, keyed with the project's secret key."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> Answer:
    """POST `body` to `url` (never following a redirect). Raises Refused, or OSError (timeouts
    included) when it fails."""
    response = outbound.request(
        "POST", url, headers=headers, body=body, timeout=timeout, allow_private=allow_private
    )
    try:
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
        return Answer(response.status, excerpt)
    except http.client.HTTPException as error:
        raise ConnectionError(f"bad HTTP answer: {error!r}") from None
    finally:
        response.close()
