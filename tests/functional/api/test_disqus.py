"""/api/disqus/sso: signed as Disqus specifies, 405 without keys."""

import base64
import hashlib
import hmac
import json

from tests.factories import UserFactory

KEYS = {"disqus.public_key": "public-123", "disqus.secret_key": "secret-456"}


def _verify(remote_auth_s3: str) -> dict:
    message, signature, timestamp = remote_auth_s3.split(" ")
    expected = hmac.new(b"secret-456", f"{message} {timestamp}".encode(), hashlib.sha1)
    assert hmac.compare_digest(signature, expected.hexdigest())
    return json.loads(base64.b64decode(message))


def test_signed_in_user_gets_signed_identity(make_app, db):
    app = make_app(**KEYS)
    user = UserFactory()

    body = app.get(f"/api/disqus/sso?api_key={user.api_key}").json

    assert body["api_key"] == "public-123"
    assert _verify(body["remote_auth_s3"]) == {
        "id": user.id,
        "username": user.name,
        "email": user.email_addr,
    }
    assert "secret-456" not in json.dumps(body)


def test_anonymous_gets_an_empty_signed_identity(make_app, db):
    body = make_app(**KEYS).get("/api/disqus/sso").json

    assert _verify(body["remote_auth_s3"]) == {}


def test_without_keys_is_405_in_the_error_shape(app, db):
    body = app.get("/api/disqus/sso", status=405).json

    assert body["target"] == "DISQUS_SSO"
    assert body["exception_msg"] == "Disqus keys are missing"
