"""Project JWTs for partner apps with their own users (decision 10).

Domain code: knows nothing of HTTP. HS256 only, signed with the project's secret key (so a
secret-key reset invalidates every token), with `iat` and `exp`.
"""

import time

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """A refused project token, in PYBOSSA's {code, description} terms."""

    def __init__(self, code: str, description: str):
        super().__init__(description)
        self.code = code
        self.description = description

    def as_dict(self) -> dict:
        return {"code": self.code, "description": self.description}


def issue(project, lifetime: int, now: float | None = None) -> str:
    now = int(time.time() if now is None else now)
    claims = {
        "short_name": project.short_name,
        "project_id": project.id,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, project.secret_key, algorithm=ALGORITHM)


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or TokenError."""
    if not header:
        raise TokenError("invalid_header", "Missing Authorization header")
    parts = header.split()
    if parts[0].lower() != "bearer":
        raise TokenError("invalid_header", "Authorization header must start with Bearer")
    if len(parts) == 1:
        raise TokenError("invalid_header", "Token not found")
    if len(parts) > 2:
        raise TokenError("invalid_header", "Authorization header must be Bearer + \\s + token")
    return parts[1]


def verify(project, header: str | None) -> dict:
    """The claims of a valid token for `project`, or TokenError."""
    token = bearer_token(header)
    try:
        claims = jwt.decode(
            token, project.secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "iat"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("Token expired", "Signature has expired") from None
    except jwt.InvalidTokenError:
        raise TokenError("Decode error", "Signature verification failed") from None
    if claims.get("project_id") != project.id or claims.get("short_name") != project.short_name:
        raise TokenError("Wrong project", "Signature verification failed")
    return claims
