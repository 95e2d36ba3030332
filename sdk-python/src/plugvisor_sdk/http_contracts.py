"""The HTTP contract package for Python plugins: ``httpHandler`` and the HTTP
message types (the C++ package is ``contracts/http``, plugvisor/contracts/http.hpp).

A handler subclasses :class:`HttpHandler` and writes ``handle_request``::

    from plugvisor_sdk import Plugin
    from plugvisor_sdk.http_contracts import HTTP_HANDLER, HttpHandler, Response

    class Hello(HttpHandler):
        def handle_request(self, request):
            if request.path != "/hello":
                return None                      # not mine: the chain goes on
            return Response(200, {"content-type": "text/plain"}, "hello\n")

    plugin = Plugin(name="hello", version="1.0.0")
    plugin.provide("hello", Hello, contract=HTTP_HANDLER)

The JSON forms (docs/contracts.md, "HTTP messages"): a body is ``body`` when
it is UTF-8 text, ``bodyBase64`` otherwise; header and query fields map a name
to a string, or to a list of strings when repeated; header names are lower-case.
The contract description below is the one the C++ header declares (a ctest
compares them), so the two cannot drift.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import json_depth
from .contracts import Contract
from .errors import InvalidInput

__all__ = ["HTTP_HANDLER", "Request", "Response", "HttpHandler", "fields_from_json", "fields_to_json"]

#: httpHandler: ``handle`` takes a request and answers a response, or null ("not mine").
HTTP_HANDLER = Contract.from_description("httpHandler", json.loads('{"description": "Handles HTTP requests; null means not mine", "methods": {"handle": {"description": "answers a request with a response, or null when the request is not its own", "input": "json", "inputSchema": {"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "method": {"pattern": "^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$", "type": "string"}, "path": {"pattern": "^/", "type": "string"}, "query": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}}, "required": ["method", "path"], "type": "object"}, "output": "json", "outputSchema": {"anyOf": [{"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "status": {"maximum": 599, "minimum": 100, "type": "integer"}}, "required": ["status"], "type": "object"}, {"type": "null"}]}}, "ping": {"input": "none", "output": "none"}}, "version": 1}'))

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def fields_from_json(doc: Any, where: str, headers: bool) -> dict[str, list[str]]:
    """A fields object (name -> string or list of strings) as name -> list of
    values; header names lower-cased. Raises InvalidInput naming what is wrong."""
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"{where} must be an object of strings (or lists of strings)")
    out: dict[str, list[str]] = {}
    for name, value in doc.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise InvalidInput(f"{where}.{name} must be a string or a list of strings")
        if headers:
            if not _TOKEN.fullmatch(name):
                raise InvalidInput(f'{where} name "{name}" is not an HTTP token')
            if any(_BAD_VALUE.search(v) for v in values):
                raise InvalidInput(f"{where}.{name} holds a byte a header value may not (CR, LF, NUL or a control)")
            name = name.lower()
        out.setdefault(name, []).extend(values)
    return out


def fields_to_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """name -> str | list[str] as the JSON form (a one-element list becomes its string)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        out[name] = values[0] if len(values) == 1 else values
    return out


def _body_from_json(doc: Mapping[str, Any]) -> bytes:
    text, encoded = doc.get("body"), doc.get("bodyBase64")
    if text is not None and encoded is not None:
        raise InvalidInput("give body or bodyBase64, not both")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidInput("body must be a string")
        return text.encode("utf-8")
    if encoded is not None:
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError) as e:
            raise InvalidInput(f"bodyBase64 is not base64: {e}") from None
    return b""


def _body_to_json(body: bytes | str, out: dict[str, Any]) -> None:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body:
        return
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["bodyBase64"] = base64.b64encode(body).decode("ascii")


@dataclass
class Request:
    """An HTTP request: method, path (decoded, no query), query and headers
    (name -> list of values; header names lower-case), body (bytes)."""

    method: str = "GET"
    path: str = "/"
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        values = self.headers.get(name.lower())
        return values[0] if values else default

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; InvalidInput if it is not JSON."""
        try:
            return json_depth.loads(self.body or b"null")
        except json_depth.TooDeep as e:
            raise InvalidInput(f"the request body is refused: {e}") from None
        except ValueError as e:
            raise InvalidInput(f"the request body is not JSON: {e}") from None

    @classmethod
    def from_json(cls, doc: Any) -> "Request":
        """The request of a JSON form; InvalidInput naming what is wrong."""
        if not isinstance(doc, Mapping):
            raise InvalidInput("a request must be a JSON object")
        method, path = doc.get("method"), doc.get("path")
        if not isinstance(method, str) or not _TOKEN.fullmatch(method):
            raise InvalidInput('a request\'s method must be an HTTP token such as "GET"')
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidInput("a request's path must be a string starting with '/'")
        return cls(method, path, fields_from_json(doc.get("query"), "query", False),
                   fields_from_json(doc.get("headers"), "headers", True), _body_from_json(doc))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path, "query": fields_to_json(self.query),
                               "headers": fields_to_json(self.headers)}
        _body_to_json(self.body, out)
        return out


@dataclass
class Response:
    """An HTTP response: status (100-599), headers (name -> str or list of
    str), body (bytes, or str sent as UTF-8)."""

    status: int = 200
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes | str = b""

    @classmethod
    def json_body(cls, value: Any, status: int = 200) -> "Response":
        """A response whose body is ``value`` as JSON."""
        return cls(status, {"content-type": "application/json"}, json.dumps(value, separators=(",", ":")) + "\n")

    @classmethod
    def from_json(cls, doc: Any) -> "Response":
        if not isinstance(doc, Mapping):
            raise InvalidInput("a response must be a JSON object")
        status = doc.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise InvalidInput("a response's status must be an integer from 100 to 599")
        return cls(status, fields_from_json(doc.get("headers"), "headers", True), _body_from_json(doc))

    def to_json(self) -> dict[str, Any]:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"a response's status must be an integer from 100 to 599, not {self.status!r}")
        headers = {str(k).lower(): v for k, v in self.headers.items()}
        fields_from_json(fields_to_json(headers), "headers", True)  # refuses CR/LF before it leaves
        out: dict[str, Any] = {"status": self.status, "headers": fields_to_json(headers)}
        _body_to_json(self.body, out)
        return out


class HttpHandler:
    """Base class of an ``httpHandler`` type: override :meth:`handle_request`
    (for the caller: ``handle``, the wire method, converts both ways)."""

    def handle(self, request: Any) -> Any:
        response = self.handle_request(Request.from_json(request))
        return None if response is None else response.to_json()

    def handle_request(self, request: Request) -> Response | None:  # pragma: no cover - abstract
        """The response to ``request``, or None when it is not this handler's."""
        raise NotImplementedError
