"""The ``httpFilter`` contract (docs/contracts.md, "httpFilter") for Python plugins.

A filter is a class with a method per hook it implements; the hooks it
defines are the ones it declares (the description a plugin publishes lists
exactly those, plus ``batch`` and ``ping``)::

    from plugvisor_sdk import Plugin
    from plugvisor_sdk.http_filter import HttpFilter, provide_filters, set_body

    class Shout(HttpFilter):
        def response_body(self, input, ctx):
            body = get_body(input["response"]).upper()
            return {"response": set_body({}, body)}

    plugin = Plugin(name="shout", version="1.0.0")
    provide_filters(plugin, {"shout": Shout})

Hooks take the filter input (a dict: ``request``, ``response`` at the
response hooks, ``client``, ``route``) and the call's context, and return a
filter result dict (``{"request": {"headers": {"set": {...}, "add": {...},
"remove": [...]}, "body": ...}, "response": {"status": ..., ...},
"respond": {...}}``) or None for "no change". ``batch`` is implemented here:
it runs the listed hooks in order, each on the result of the one before.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, Callable, Mapping

from .contracts import Contract, Kind, Method
from .errors import InvalidInput

__all__ = [
    "HOOKS",
    "HttpFilter",
    "filter_contract",
    "provide_filters",
    "get_header",
    "get_body",
    "set_body",
    "apply_headers",
]

#: The five hooks, in the order a request meets them, by wire name.
HOOKS = ("requestHeaders", "requestBody", "generateResponse", "responseHeaders", "responseBody")
_ATTRS = {"requestHeaders": "request_headers", "requestBody": "request_body",
          "generateResponse": "generate_response", "responseHeaders": "response_headers",
          "responseBody": "response_body"}
_DESCRIPTIONS = {
    "requestHeaders": "sees the request's head; may change its headers",
    "requestBody": "sees the whole request; may change its headers and body",
    "generateResponse": "may answer the request itself (respond), before the upstream is called",
    "responseHeaders": "sees the request's head and the response's; may change the status and headers",
    "responseBody": "sees the whole response; may change status, headers and body",
}


def filter_contract(hooks: "list[str] | tuple[str, ...]") -> Contract:
    """The httpFilter contract restricted to ``hooks`` (plus ``batch``): what
    a plugin publishes to declare the hooks it implements. Matches C++
    ``plugvisor::http::filter_description``."""
    unknown = [h for h in hooks if h not in HOOKS]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a hook ({', '.join(HOOKS)})")
    methods = [Method(h, Kind.JSON, Kind.JSON, _ATTRS[h], description=_DESCRIPTIONS[h]) for h in HOOKS if h in hooks]
    methods.append(Method("batch", Kind.JSON, Kind.JSON,
                          description="runs the listed hooks in order in one call, answering the combined changes"))
    return Contract("httpFilter", methods, version=1,
                    description="Filters HTTP traffic at five hooks, answering modifications")


def get_header(message: Mapping[str, Any], name: str) -> str | None:
    """The first value of header ``name`` (lower-case) of a request or response dict."""
    value = (message.get("headers") or {}).get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def get_body(message: Mapping[str, Any]) -> bytes:
    """The body of a request, response or change dict, as bytes."""
    if message.get("bodyBase64") is not None:
        try:
            return base64.b64decode(message["bodyBase64"], validate=True)
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"bodyBase64 is not base64: {e}") from None
    body = message.get("body")
    return body.encode("utf-8") if isinstance(body, str) else b""


def set_body(message: dict[str, Any], data: bytes | str) -> dict[str, Any]:
    """Puts ``data`` in ``message`` as ``body`` (UTF-8 text) or ``bodyBase64``; returns it."""
    message.pop("body", None)
    message.pop("bodyBase64", None)
    if isinstance(data, str):
        message["body"] = data
        return message
    try:
        message["body"] = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        message["bodyBase64"] = base64.b64encode(data).decode("ascii")
    return message


def _values(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def apply_headers(headers: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Applies header changes (remove, then set, then add) to a headers dict
    in its JSON form; returns it. The same order as the C++ chain."""
    if not changes:
        return headers
    for name in changes.get("remove") or []:
        headers.pop(name.lower(), None)
    for name, value in (changes.get("set") or {}).items():
        headers[name.lower()] = value
    for name, value in (changes.get("add") or {}).items():
        name = name.lower()
        if name in headers:
            headers[name] = _values(headers[name]) + _values(value)
        else:
            headers[name] = value
    return headers


def _merge_headers(into: dict[str, Any], later: Mapping[str, Any] | None) -> None:
    """Folds ``later`` header changes into ``into`` so that applying ``into``
    once equals applying both in turn."""
    if not later:
        return
    for name in later.get("remove") or []:
        name = name.lower()
        into.setdefault("set", {}).pop(name, None)
        into.setdefault("add", {}).pop(name, None)
        into.setdefault("remove", []).append(name)
    for name, value in (later.get("set") or {}).items():
        name = name.lower()
        into.setdefault("add", {}).pop(name, None)
        into.setdefault("set", {})[name] = value
    for name, value in (later.get("add") or {}).items():
        name = name.lower()
        adds = into.setdefault("add", {})
        adds[name] = _values(adds[name]) + _values(value) if name in adds else value


def _merge_part(total: dict[str, Any], part: Mapping[str, Any] | None, target: dict[str, Any] | None) -> None:
    if not part:
        return
    if part.get("headers"):
        _merge_headers(total.setdefault("headers", {}), part["headers"])
        if target is not None:
            apply_headers(target.setdefault("headers", {}), part["headers"])
    if "status" in part and part["status"] is not None:
        total["status"] = part["status"]
        if target is not None:
            target["status"] = part["status"]
    if part.get("body") is not None or part.get("bodyBase64") is not None:
        data = get_body(part)
        set_body(total, data)
        if target is not None:
            set_body(target, data)


class HttpFilter:
    """Base class of a filter type. Define the hooks you implement (by their
    snake-case names: ``request_headers``, ``request_body``,
    ``generate_response``, ``response_headers``, ``response_body``), each as
    ``hook(self, input, ctx) -> dict | None``. The hooks a subclass defines
    are the ones it declares (:meth:`implemented`). Instances are shared by
    every connection's thread: keep per-call state local, or lock."""

    def __init__(self, config: Any = None) -> None:
        self.config = config

    @classmethod
    def implemented(cls) -> list[str]:
        """The wire names of the hooks this class defines."""
        return [h for h in HOOKS if getattr(cls, _ATTRS[h]) is not getattr(HttpFilter, _ATTRS[h])]

    def request_headers(self, input: dict, ctx: Any) -> dict | None:
        return None

    def request_body(self, input: dict, ctx: Any) -> dict | None:
        return None

    def generate_response(self, input: dict, ctx: Any) -> dict | None:
        return None

    def response_headers(self, input: dict, ctx: Any) -> dict | None:
        return None

    def response_body(self, input: dict, ctx: Any) -> dict | None:
        return None

    def batch(self, input: dict, ctx: Any) -> dict:
        """Runs ``input["hooks"]`` in order on a copy of the input, each on the
        result of the one before; answers the combined changes."""
        hooks = input.get("hooks") or []
        if not isinstance(hooks, list) or not all(h in HOOKS for h in hooks):
            raise InvalidInput(f"hooks must be a list of hook names ({', '.join(HOOKS)})")
        local = copy.deepcopy(input)
        total: dict[str, Any] = {}
        for hook in hooks:
            step = getattr(self, _ATTRS[hook])(local, ctx) or {}
            if not isinstance(step, dict):
                raise TypeError(f"{type(self).__name__}.{_ATTRS[hook]} returned {type(step).__name__}, not a dict or None")
            if step.get("request"):
                _merge_part(total.setdefault("request", {}), step["request"], local.get("request"))
            if step.get("response"):
                _merge_part(total.setdefault("response", {}), step["response"], local.get("response"))
            if step.get("respond") is not None:
                total["respond"] = step["respond"]
                break
        return total


def provide_filters(plugin: Any, filters: Mapping[str, "type[HttpFilter] | Callable[[Any], HttpFilter]"],
                    descriptions: Mapping[str, str] | None = None) -> Any:
    """Provides each ``type -> class`` of ``filters`` on ``plugin``,
    publishing one httpFilter description with the union of their hooks (a
    description is per plugin). A class is made once per launch as
    ``cls(config)``. Call it once per plugin; returns the plugin."""
    hooks: set[str] = set()
    for type_name, cls in filters.items():
        if not (isinstance(cls, type) and issubclass(cls, HttpFilter)):
            raise TypeError(f"httpFilter type '{type_name}': give a subclass of HttpFilter, not {cls!r}")
        hooks.update(cls.implemented())
    contract = filter_contract(sorted(hooks, key=HOOKS.index))
    for type_name, cls in filters.items():
        plugin.provide(type_name, cls, contract=contract,
                       description=(descriptions or {}).get(type_name) or (cls.__doc__ or "").strip().split("\n")[0])
    return plugin
