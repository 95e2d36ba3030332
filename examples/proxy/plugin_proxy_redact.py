"""plugin-proxy-redact: an httpFilter that redacts configured fields in JSON
request and response bodies (hooks requestBody and responseBody).

Config type ``proxy.redact``::

    {"fields": ["password", "ssn"], "replacement": "[redacted]", "requests": true, "responses": true}

Every object member named in ``fields`` (at any depth; names compare
case-insensitively) gets ``replacement``. Bodies whose Content-Type is not
JSON (``application/json``, ``*/*+json``) pass untouched. A body that claims
to be JSON but is not, or nests deeper than 128 levels, is refused
(``invalid_input``): configure the filter ``fail-closed`` so that nothing
unredacted leaks when that happens.
"""

from __future__ import annotations

import json
from typing import Any

from plugvisor_sdk import InvalidInput, Plugin
from plugvisor_sdk.http_filter import HttpFilter, get_body, get_header, provide_filters, set_body

MAX_DEPTH = 128  # as plugvisor::protocol::max_json_depth

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fields": {"type": "array", "items": {"type": "string"}},
        "replacement": {},
        "requests": {"type": "boolean"},
        "responses": {"type": "boolean"},
    },
}


def _is_json(message: dict) -> bool:
    kind = (get_header(message, "content-type") or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _depth_ok(text: str) -> bool:
    """Whether ``text`` nests at most MAX_DEPTH levels (a pre-scan, so that
    json.loads never recurses deep). Brackets in strings are skipped."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


class Redact(HttpFilter):
    """redacts configured fields in JSON bodies (config type proxy.redact)"""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        data = config.data("proxy.redact") or {}
        self.fields = {f.lower() for f in data.get("fields", ["password"])}
        self.replacement = data.get("replacement", "[redacted]")
        self.requests = data.get("requests", True)
        self.responses = data.get("responses", True)

    def _redact(self, value: Any) -> tuple[Any, int]:
        if isinstance(value, dict):
            count = 0
            for key in list(value):
                if key.lower() in self.fields:
                    value[key] = self.replacement
                    count += 1
                else:
                    value[key], n = self._redact(value[key])
                    count += n
            return value, count
        if isinstance(value, list):
            count = 0
            for i, item in enumerate(value):
                value[i], n = self._redact(item)
                count += n
            return value, count
        return value, 0

    def _body_change(self, message: dict, where: str) -> dict | None:
        if not _is_json(message):
            return None
        raw = get_body(message)
        if not raw:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"the {where} body says it is JSON but is not UTF-8") from None
        if not _depth_ok(text):
            raise InvalidInput(f"the {where} body nests deeper than {MAX_DEPTH} levels")
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise InvalidInput(f"the {where} body says it is JSON but is not: {e}") from None
        doc, count = self._redact(doc)
        if count == 0:
            return None
        return set_body({}, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))

    def request_body(self, input: dict, ctx: Any) -> dict | None:
        change = self._body_change(input["request"], "request") if self.requests else None
        return {"request": change} if change else None

    def response_body(self, input: dict, ctx: Any) -> dict | None:
        change = self._body_change(input["response"], "response") if self.responses else None
        return {"response": change} if change else None


plugin = Plugin(name="proxy-redact", version="1.0.0", description="redacts fields in JSON bodies")
plugin.config_type("proxy.redact", SCHEMA)
provide_filters(plugin, {"redact": Redact})

if __name__ == "__main__":
    raise SystemExit(plugin.run())
