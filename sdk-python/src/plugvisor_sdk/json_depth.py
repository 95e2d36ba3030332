"""The one nesting rule for JSON from outside (protocol.md §2.4): a document
nested deeper than MAX_JSON_DEPTH arrays and objects is refused before it is
parsed, as the manager and the C++ SDK refuse it (plugvisor::protocol::max_json_depth).
CPython's json module recurses: without the bound a deep document raises
RecursionError, which no caller expects."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 128

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class TooDeep(ValueError):
    """A document nested deeper than MAX_JSON_DEPTH (a ValueError, as
    json.JSONDecodeError is)."""


def too_deep_at(text: str) -> int | None:
    """The offset of the first ``[`` or ``{`` nested deeper than
    MAX_JSON_DEPTH (brackets in strings do not count), or None."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None  # cannot nest that deep: no scan
    depth = 0
    for m in _TOKENS.finditer(text):
        ch = text[m.start()]
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return m.start()
        elif ch in "]}" and depth > 0:
            depth -= 1
    return None


def loads(text: str | bytes) -> Any:
    """json.loads with the depth rule: raises TooDeep, json.JSONDecodeError or
    UnicodeDecodeError (all ValueErrors)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    at = too_deep_at(text)
    if at is not None:
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused (at character {at})")
    return json.loads(text)
