"""plugin-proxy-cache: an httpFilter that sets Cache-Control and a strong
ETag on responses by path pattern, and answers conditional requests
(If-None-Match) with 304 Not Modified (hook responseBody: the ETag is a
hash of the body).

Config type ``proxy.cache``::

    {"rules": [{"paths": ["/static/*"], "cacheControl": "public, max-age=3600"},
               {"paths": ["/api/*"], "cacheControl": "no-store", "etag": false}]}

The first rule whose pattern matches the path applies ('*' any run of
characters, '?' one: the proxy's own pattern rule). Only 200 answers to GET
and HEAD get an ETag; a matching If-None-Match turns them into 304 without
a body.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from plugvisor_sdk import Plugin
from plugvisor_sdk.http_filter import HttpFilter, get_body, get_header, provide_filters, set_body

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["paths"],
                "properties": {
                    "paths": {"type": "array", "items": {"type": "string"}},
                    "cacheControl": {"type": "string"},
                    "etag": {"type": "boolean"},
                },
            },
        }
    },
}


def _pattern(text: str) -> re.Pattern[str]:
    """The proxy's path pattern rule: '*' any run of characters, '?' one, all else literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text), re.DOTALL)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: '*' or a list of (possibly weak) tags; weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


class Cache(HttpFilter):
    """Cache-Control and ETag by path, 304 for a matching If-None-Match (config type proxy.cache)"""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        data = config.data("proxy.cache") or {}
        self.rules = [([_pattern(p) for p in rule["paths"]], rule.get("cacheControl"), rule.get("etag", True))
                      for rule in data.get("rules", [])]

    def response_body(self, input: dict, ctx: Any) -> dict | None:
        request, response = input["request"], input["response"]
        path = request["path"]
        for patterns, cache_control, etag_on in self.rules:
            if any(p.fullmatch(path) for p in patterns):
                break
        else:
            return None
        headers: dict[str, Any] = {"set": {}}
        if cache_control:
            headers["set"]["cache-control"] = cache_control
        change: dict[str, Any] = {"headers": headers}
        if etag_on and response["status"] == 200 and request["method"] in ("GET", "HEAD"):
            etag = '"' + hashlib.sha256(get_body(response)).hexdigest()[:32] + '"'
            headers["set"]["etag"] = etag
            condition = get_header(request, "if-none-match")
            if condition is not None and _etag_matches(condition, etag):
                change["status"] = 304
                headers["remove"] = ["content-type"]
                set_body(change, b"")
        return {"response": change}


plugin = Plugin(name="proxy-cache", version="1.0.0", description="Cache-Control, ETag and 304s")
plugin.config_type("proxy.cache", SCHEMA)
provide_filters(plugin, {"cache": Cache})

if __name__ == "__main__":
    raise SystemExit(plugin.run())
