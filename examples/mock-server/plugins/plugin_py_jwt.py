"""plugin-py-jwt: an authenticator for HS256 JSON Web Tokens (RFC 7519), with
the standard library only (hmac, hashlib, base64).

Config type ``mock.jwt``: ``{"secret": "...", "issuer": "...", "audience":
"...", "leeway": 30}`` (issuer and audience checked when given; leeway in
seconds for exp and nbf). A route's auth settings may ask for claims:
``{"claims": {"role": "admin"}}``.

Answers: abstain without ``Authorization: Bearer``; deny a token that is
malformed, not HS256 (``alg: none`` included), badly signed, expired, not yet
valid, from another issuer or audience, or lacking a required claim; allow
with ``sub`` as the principal and the claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from plugvisor_sdk import Config, Plugin
from plugvisor_sdk.mock_contracts import AUTHENTICATOR, AuthResult, Authenticator

MAX_TOKEN = 8192
CONFIG_SCHEMA = {
    "type": "object", "required": ["secret"], "additionalProperties": False,
    "properties": {"secret": {"type": "string", "minLength": 16}, "issuer": {"type": "string"},
                   "audience": {"type": "string"}, "leeway": {"type": "integer", "minimum": 0, "maximum": 3600}},
}


def b64url_decode(part: str) -> bytes:
    if not part or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(claims: dict, secret: str) -> str:
    """An HS256 token for ``claims`` (for tests and the demo's mint_jwt.py)."""
    head = b64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(mac)}"


def _number(claims: dict, name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"claim {name} is not a number")
    return float(value)


class Jwt(Authenticator):
    def __init__(self, config: Config) -> None:
        data = config.data("mock.jwt") or {}
        self.secret = str(data.get("secret", "")).encode()
        self.issuer = data.get("issuer")
        self.audience = data.get("audience")
        self.leeway = int(data.get("leeway", 0))

    def check(self, request, settings):
        header = request.header("authorization")
        if header is None or not header.lower().startswith("bearer "):
            return AuthResult.abstain("no Authorization: Bearer header")
        if not self.secret:
            return AuthResult.deny("the JWT authenticator has no secret (config type mock.jwt)")
        token = header[7:].strip()
        if len(token) > MAX_TOKEN:
            return AuthResult.deny(f"the token is longer than {MAX_TOKEN} bytes")
        parts = token.split(".")
        if len(parts) != 3:
            return AuthResult.deny("malformed token: a JWT has three dot-separated parts")
        try:
            head = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            return AuthResult.deny("malformed token: a part is not base64url-encoded JSON")
        if not isinstance(head, dict) or not isinstance(claims, dict):
            return AuthResult.deny("malformed token: header and claims must be JSON objects")
        if head.get("alg") != "HS256":
            return AuthResult.deny(f"unsupported algorithm {head.get('alg')!r}: only HS256 is accepted")
        expected = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            return AuthResult.deny("bad signature: the token was not signed with this server's secret")
        now = time.time()
        try:
            exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
        except ValueError as e:
            return AuthResult.deny(f"malformed token: {e}")
        if exp is None:
            return AuthResult.deny("the token has no exp claim: tokens must expire")
        if now >= exp + self.leeway:
            return AuthResult.deny(f"token expired at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(exp))}")
        if nbf is not None and now + self.leeway < nbf:
            return AuthResult.deny("token not valid yet (nbf is in the future)")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            return AuthResult.deny(f"token issued by {claims.get('iss')!r}, not {self.issuer!r}")
        if self.audience is not None:
            aud = claims.get("aud")
            if self.audience not in (aud if isinstance(aud, list) else [aud]):
                return AuthResult.deny(f"token is for audience {aud!r}, not {self.audience!r}")
        wanted = settings.get("claims") if isinstance(settings.get("claims"), dict) else {}
        for name, value in wanted.items():
            if claims.get(name) != value:
                return AuthResult.deny(f"claim {name} must be {value!r}, the token has {claims.get(name)!r}")
        subject = claims.get("sub")
        return AuthResult.allow(subject if isinstance(subject, str) else "", claims)


plugin = Plugin(name="py-jwt", version="1.0.0", description="HS256 JWT authenticator")
plugin.config_type("mock.jwt", CONFIG_SCHEMA)
plugin.provide("jwt", Jwt, contract=AUTHENTICATOR, description="HS256 JWTs in Authorization: Bearer (config type mock.jwt)")

if __name__ == "__main__":
    raise SystemExit(plugin.run())
