"""Random secrets for sessions and API tokens; only their digests are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "kefu_session"
CSRF_COOKIE = "kefu_csrf"
CSRF_HEADER = "X-CSRF-Token"
API_TOKEN_PREFIX = "kefu_"  # noqa: S105 - a prefix, not a secret


def digest(token: str) -> str:
    """SHA-256 is enough: the tokens are 256-bit random values, not guessable passwords."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def new_api_token() -> tuple[str, str]:
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def csrf_token(secret_key: str, session_digest: str) -> str:
    """The CSRF token of a session: derived, so nothing more is stored; a page on another site cannot
    read it from our cookie, and cannot compute it without the installation's secret key."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_digest.encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, session_digest: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret_key, session_digest), presented or "")
