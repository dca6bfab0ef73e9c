"""Signed, expiring tokens: the widget's render token (checked on each of its events) and the
A/B page's login cookie.

A token is ``base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))``. The render
token binds one widget render: shop, visitor, the products shown (a hash), the experiment and
variant it was served, an id of the render and an expiry. From it the service derives the
event ids itself (one impression per render, one click per position), so replaying an event
with fresh ids is a duplicate, a client cannot claim products it was not shown, and forging
visitors means loading the widget once per visitor (which the per-IP limits bound).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TokenError", "RenderToken", "sign", "verify", "shown_hash", "new_secret"]


class TokenError(Exception):
    """A token that must be refused; ``reason`` is counted in the A/B report."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def new_secret() -> bytes:
    """A random signing key (tokens then die with the process: set one in production)."""
    return secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, payload: dict[str, object]) -> str:
    """The token of ``payload`` (JSON-able; give it an ``exp`` for it to expire)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: bytes, token: str, *, now: float | None = None) -> dict[str, object]:
    """The payload of a valid, unexpired token; ``TokenError`` (``bad_token``,
    ``expired_token``) otherwise."""
    body, _, mac = token.partition(".")
    if not body or not mac or len(token) > 4096:
        raise TokenError("bad_token")
    expected = hmac.new(secret, body.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_unb64(mac), expected)
        payload = json.loads(_unb64(body)) if valid else None
    except ValueError as exc:
        raise TokenError("bad_token") from exc
    if not isinstance(payload, dict):
        raise TokenError("bad_token")
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or exp < (time.time() if now is None else now):
        raise TokenError("expired_token")
    return payload


def shown_hash(shown: Sequence[str]) -> str:
    """A short digest of the products a render showed, in order."""
    return hashlib.sha256("\x1f".join(shown).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class RenderToken:
    """What one widget render may report."""

    shop: str
    visitor: str
    render: str  # random id of this render
    shown: str  # shown_hash of the products shown
    product_id: str
    experiment: str
    variant: str
    exp: float

    def encode(self, secret: bytes) -> str:
        """Sign this render."""
        return sign(
            secret,
            {
                "s": self.shop,
                "v": self.visitor,
                "r": self.render,
                "h": self.shown,
                "p": self.product_id,
                "x": self.experiment,
                "a": self.variant,
                "exp": self.exp,
            },
        )

    @classmethod
    def decode(cls, secret: bytes, token: str, *, now: float | None = None) -> RenderToken:
        """Verify and read a render token (``TokenError`` when invalid or expired)."""
        p = verify(secret, token, now=now)
        try:
            return cls(
                str(p["s"]), str(p["v"]), str(p["r"]), str(p["h"]), str(p["p"]),
                str(p["x"]), str(p["a"]), float(p["exp"]),  # type: ignore[arg-type]
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenError("bad_token") from exc
