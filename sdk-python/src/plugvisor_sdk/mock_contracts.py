"""The mock-server contract package for Python plugins: ``authenticator``,
``templateFunctions``, ``responseGenerator`` and ``dataSource`` (the C++
package is ``contracts/mock``, plugvisor/contracts/mock.hpp). Each contract
has a base class that converts the wire's JSON into Python values::

    class Keys(Authenticator):
        def check(self, request, settings):
            key = request.header("x-api-key")
            if key is None:
                return AuthResult.abstain("no X-Api-Key header")
            return AuthResult.allow(key) if key == "s3cret" else AuthResult.deny("unknown key")

    plugin.provide("keys", Keys, contract=AUTHENTICATOR)

The descriptions below are the ones the C++ header declares (a ctest compares
them), so the two cannot drift.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .contracts import Contract
from .errors import InvalidInput
from .http_contracts import Request, Response

__all__ = [
    "AUTHENTICATOR", "TEMPLATE_FUNCTIONS", "RESPONSE_GENERATOR", "DATA_SOURCE",
    "AuthResult", "Authenticator", "Argument", "template_function", "TemplateFunctions",
    "ResponseGenerator", "DataSource",
]

AUTHENTICATOR = Contract.from_description("authenticator", json.loads('{"description": "Authenticates HTTP requests: allow, deny or abstain", "methods": {"authenticate": {"description": "allow (with principal and claims), deny (with a reason), or abstain", "input": "json", "inputSchema": {"properties": {"request": {"type": "object"}, "settings": true}, "required": ["request"], "type": "object"}, "output": "json", "outputSchema": {"properties": {"claims": {"type": "object"}, "decision": {"enum": ["allow", "deny", "abstain"]}, "principal": {"type": "string"}, "reason": {"type": "string"}}, "required": ["decision"], "type": "object"}}, "ping": {"input": "none", "output": "none"}}, "version": 1}'))
TEMPLATE_FUNCTIONS = Contract.from_description("templateFunctions", json.loads('{"description": "Functions for {{name args}} template tags", "methods": {"call": {"description": "calls a function with the tag\'s arguments; answers its value", "input": "json", "inputSchema": {"properties": {"arguments": {"items": {"type": "string"}, "type": "array"}, "function": {"type": "string"}}, "required": ["function", "arguments"], "type": "object"}, "output": "json", "outputSchema": true}, "functions": {"description": "the functions offered: name, arguments, description", "input": "none", "output": "json", "outputSchema": {"items": {"properties": {"arguments": {"items": {"properties": {"description": {"type": "string"}, "name": {"type": "string"}, "required": {"type": "boolean"}}, "required": ["name"], "type": "object"}, "type": "array"}, "description": {"type": "string"}, "name": {"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "type": "string"}}, "required": ["name"], "type": "object"}, "type": "array"}}, "ping": {"input": "none", "output": "none"}}, "version": 1}'))
RESPONSE_GENERATOR = Contract.from_description("responseGenerator", json.loads('{"description": "Generates responses for requests no route serves", "methods": {"canHandle": {"description": "whether it can handle the request, with a priority", "input": "json", "inputSchema": {"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "method": {"pattern": "^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$", "type": "string"}, "path": {"pattern": "^/", "type": "string"}, "query": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}}, "required": ["method", "path"], "type": "object"}, "output": "json", "outputSchema": {"properties": {"canHandle": {"type": "boolean"}, "priority": {"maximum": 2147483647, "minimum": -2147483648, "type": "integer"}}, "required": ["canHandle"], "type": "object"}}, "generate": {"description": "the response to a request it can handle", "input": "json", "inputSchema": {"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "method": {"pattern": "^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$", "type": "string"}, "path": {"pattern": "^/", "type": "string"}, "query": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}}, "required": ["method", "path"], "type": "object"}, "output": "json", "outputSchema": {"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "status": {"maximum": 599, "minimum": 100, "type": "integer"}}, "required": ["status"], "type": "object"}}, "ping": {"input": "none", "output": "none"}}, "version": 1}'))
DATA_SOURCE = Contract.from_description("dataSource", json.loads('{"description": "A queryable data store: its schema, and parameterized queries", "methods": {"ping": {"input": "none", "output": "none"}, "query": {"description": "runs a query with parameters bound as data; the rows", "input": "json", "inputSchema": {"properties": {"params": {"additionalProperties": {"type": ["string", "number", "boolean", "null"]}, "items": {"type": ["string", "number", "boolean", "null"]}, "type": ["array", "object"]}, "query": {"type": "string"}}, "required": ["query"], "type": "object"}, "output": "json", "outputSchema": {"properties": {"columns": {"items": {"type": "string"}, "type": "array"}, "rows": {"items": {"type": "object"}, "type": "array"}}, "required": ["columns", "rows"], "type": "object"}}, "schema": {"description": "the tables and columns it holds", "input": "none", "output": "json", "outputSchema": {"properties": {"language": {"type": "string"}, "tables": {"items": {"properties": {"columns": {"items": {"properties": {"name": {"type": "string"}, "type": {"type": "string"}}, "required": ["name"], "type": "object"}, "type": "array"}, "name": {"type": "string"}}, "required": ["name", "columns"], "type": "object"}, "type": "array"}}, "required": ["language", "tables"], "type": "object"}}}, "version": 1}'))


@dataclass
class AuthResult:
    """An authenticator's answer: ``decision`` is "allow", "deny" or "abstain"."""

    decision: str
    principal: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def allow(cls, principal: str, claims: Mapping[str, Any] | None = None, reason: str = "") -> "AuthResult":
        return cls("allow", principal, dict(claims or {}), reason)

    @classmethod
    def deny(cls, reason: str) -> "AuthResult":
        return cls("deny", reason=reason)

    @classmethod
    def abstain(cls, reason: str = "") -> "AuthResult":
        """Not this authenticator's kind of credentials: the next one decides."""
        return cls("abstain", reason=reason)

    def to_json(self) -> dict[str, Any]:
        if self.decision not in ("allow", "deny", "abstain"):
            raise ValueError(f'decision must be "allow", "deny" or "abstain", not {self.decision!r}')
        return {"decision": self.decision, "principal": self.principal, "claims": self.claims, "reason": self.reason}


class Authenticator:
    """Base class of an ``authenticator`` type: override :meth:`check`."""

    def authenticate(self, doc: Any) -> Any:
        if not isinstance(doc, Mapping):
            raise InvalidInput('send {"request": {...}, "settings": {...}}')
        settings = doc.get("settings")
        return self.check(Request.from_json(doc.get("request")), settings if isinstance(settings, dict) else {}).to_json()

    def check(self, request: Request, settings: dict[str, Any]) -> AuthResult:  # pragma: no cover - abstract
        """The decision on ``request``; ``settings`` are the host's for this check (a route's)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Argument:
    """One argument of a template function."""

    name: str
    description: str = ""
    required: bool = True


def template_function(name: str, arguments: Sequence[Argument] = (), description: str = "") -> Callable:
    """Marks a method of a :class:`TemplateFunctions` subclass as the
    function ``name``; it is called with the tag's arguments as strings."""

    def mark(fn: Callable) -> Callable:
        fn.__template_function__ = (name, tuple(arguments), description)  # type: ignore[attr-defined]
        return fn

    return mark


class TemplateFunctions:
    """Base class of a ``templateFunctions`` type: mark methods with
    :func:`template_function`. ``call`` checks the function name and the
    number of arguments (InvalidInput saying which and how many) before the
    method runs; a method raises InvalidInput for arguments it refuses."""

    def _table(self) -> dict[str, tuple[Callable, tuple[Argument, ...], str]]:
        table = {}
        for _, member in inspect.getmembers(type(self), predicate=inspect.isfunction):
            mark = getattr(member, "__template_function__", None)
            if mark:
                table[mark[0]] = (getattr(self, member.__name__), mark[1], mark[2])
        return table

    def functions(self) -> list[dict[str, Any]]:
        return [{"name": name, "description": description,
                 "arguments": [{"name": a.name, "description": a.description, "required": a.required} for a in args]}
                for name, (_, args, description) in sorted(self._table().items())]

    def call(self, doc: Any) -> Any:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("function"), str):
            raise InvalidInput('send {"function": "name", "arguments": ["..."]}')
        table = self._table()
        name, arguments = doc["function"], doc.get("arguments") or []
        if name not in table:
            raise InvalidInput(f"no function {name!r} here (there are: {', '.join(sorted(table))})")
        if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
            raise InvalidInput("arguments must be a list of strings")
        fn, args, _ = table[name]
        required = sum(1 for a in args if a.required)
        if not required <= len(arguments) <= len(args):
            usage = " ".join(a.name if a.required else f"[{a.name}]" for a in args)
            want = str(required) if required == len(args) else f"{required} to {len(args)}"
            raise InvalidInput(f"{name} takes {want} argument{'s' if len(args) != 1 else ''} ({{{{{name} {usage}}}}}), "
                               f"not {len(arguments)}")
        return fn(*arguments)


class ResponseGenerator:
    """Base class of a ``responseGenerator`` type: override :meth:`offer`
    (the priority, or None when it cannot) and :meth:`respond`."""

    def can_handle(self, doc: Any) -> Any:
        priority = self.offer(Request.from_json(doc))
        return {"canHandle": priority is not None, "priority": int(priority or 0)}

    def generate(self, doc: Any) -> Any:
        return self.respond(Request.from_json(doc)).to_json()

    def offer(self, request: Request) -> int | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def respond(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


class DataSource:
    """Base class of a ``dataSource`` type: override :meth:`describe` (the
    schema: ``{"language": ..., "tables": [...]}``) and :meth:`run` (the
    columns and rows of a query, its parameters bound as data)."""

    def schema(self) -> Any:
        return self.describe()

    def query(self, doc: Any) -> Any:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("query"), str):
            raise InvalidInput('send {"query": "...", "params": [...]}')
        params = doc.get("params", [])
        if not isinstance(params, (list, dict)):
            raise InvalidInput("params must be a list (for ?) or an object (for :name)")
        values = params.values() if isinstance(params, dict) else params
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
            raise InvalidInput("every parameter must be a string, number, boolean or null")
        columns, rows = self.run(doc["query"], params)
        return {"columns": list(columns), "rows": [dict(zip(columns, row)) for row in rows]}

    def describe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, query: str, params: list | dict) -> tuple[Sequence[str], Sequence[Sequence[Any]]]:  # pragma: no cover
        raise NotImplementedError
