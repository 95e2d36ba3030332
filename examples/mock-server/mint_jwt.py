#!/usr/bin/env python3
"""Mints an HS256 JWT for the mock server's demo (standard library only).

    mint_jwt.py SUBJECT [--role ROLE] [--ttl SECONDS] [--secret S] [--issuer I]

The defaults match examples/mock-server/routes.json. A negative --ttl gives
an expired token.
"""

import argparse
import base64
import hashlib
import hmac
import json
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("subject")
    parser.add_argument("--role", default="user")
    parser.add_argument("--ttl", type=int, default=3600)
    parser.add_argument("--secret", default="demo-secret-change-me-0123456789")
    parser.add_argument("--issuer", default="plugvisor-demo")
    args = parser.parse_args()
    now = int(time.time())
    claims = {"sub": args.subject, "role": args.role, "iss": args.issuer, "iat": now, "exp": now + args.ttl}
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(args.secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    print(f"{head}.{body}.{b64url(mac)}")


if __name__ == "__main__":
    main()
