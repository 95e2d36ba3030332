"""The contracts of protocol v1, as the wire sees them, and their Python base classes.

A contract is a set of methods; each method takes no input or one input and
returns nothing or one value, each of a :class:`Kind`. The tables here match
the C++ contracts (``contracts/include/plugvisor/contracts.hpp``)::

    pluginBase      ping              none  -> none   (answers {})
    dataProcessor   ping              none  -> none
                    processData       bytes -> bytes  (application/octet-stream)
                    supportedFormats  none  -> json   (a list of strings)

A plugin may also serve contracts this table does not know: declare them
with :class:`Contract` (for named kinds, class-based implementations and the
description published in ``capabilities``), in code or read from a
description (:meth:`Contract.from_description`, e.g. the JSON a C++ host
prints), or just name them in ``Plugin.handler`` (kinds then follow the
request's ``Content-Type`` and the returned value).

The description form (``Contract.to_description``) is the one the C++
``ContractDescription::to_json`` writes and the manager checks::

    {"version": 1, "description": "...",
     "methods": {"ping": {"input": "none", "output": "none"},
                 "greet": {"input": "json", "output": "json",
                           "inputSchema": {...}, "outputSchema": {...}, "description": "..."}}}
"""

from __future__ import annotations

import copy
import enum
import json
import re
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from .config import Config
    from .context import Context

__all__ = [
    "Kind",
    "Method",
    "Contract",
    "PLUGIN_BASE",
    "DATA_PROCESSOR",
    "KNOWN_CONTRACTS",
    "find_contract",
    "is_valid_name",
    "DataProcessor",
    "MAX_VERSION",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_valid_name(name: object) -> bool:
    """True if ``name`` may be a plugin, contract or type name:
    ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}`` (ASCII only)."""
    return isinstance(name, str) and name.isascii() and _NAME.fullmatch(name) is not None


class Kind(str, enum.Enum):
    """How a method's input or output travels (docs/protocol.md, section 10.2)."""

    #: No value: the request body is ignored; the answer is ``{}`` (application/json).
    NONE = "none"
    #: Raw octets, ``application/octet-stream``; handlers see and return ``bytes``.
    BYTES = "bytes"
    #: One JSON document, ``application/json``; handlers see and return Python values.
    JSON = "json"

    def __str__(self) -> str:
        return self.value


#: The largest major version a contract may have (2^31 - 1, as in C++).
MAX_VERSION = 2**31 - 1
_SCHEMA_TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).replace(".", "_").replace("-", "_").lower()


def _shown(value: object) -> str:
    """``value`` as JSON for an error message, cut at 60 characters (as the C++ side does)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object, where: str) -> Kind:
    if isinstance(value, str) and value in ("none", "json", "bytes"):
        return Kind(value)
    raise ValueError(f'{where} must be "none", "json" or "bytes", not {_shown(value)}')


def _schema_problem(schema: object) -> str | None:
    """Why ``schema`` cannot be a JSON Schema, or None. Shallow: the manager
    checks schemas in full (draft-07) when it reads ``capabilities``."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"it must be an object or a boolean, not {_shown(schema)}"
    try:
        json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError) as e:
        return f"it is not JSON: {e}"
    declared = schema.get("type")
    if declared is not None:
        names = declared if isinstance(declared, list) else [declared]
        if not names or not all(isinstance(n, str) and n in _SCHEMA_TYPES for n in names):
            return f'its "type" must be one of {", ".join(_SCHEMA_TYPES)} or a list of them, not {_shown(declared)}'
    return None


def _check_method(name: str, input: Kind, output: Kind, input_schema: object, output_schema: object,
                  where: str, keys: tuple[str, str]) -> None:
    """The rules that hold however a method is declared. ``keys`` name the schemas in messages."""
    for key, kind, schema, side in ((keys[0], input, input_schema, "input"), (keys[1], output, output_schema, "output")):
        if schema is None:
            continue
        if kind is not Kind.JSON:
            raise ValueError(f"{where}.{key} is given for a {kind} {side}: only JSON has a schema")
        problem = _schema_problem(schema)
        if problem:
            raise ValueError(f"{where}.{key} is not a valid JSON Schema: {problem}")
    if name == "ping" and (input is not Kind.NONE or output is not Kind.NONE):
        raise ValueError(f"{where} must take none and return none, as every contract's ping does, "
                         f"not take {input} and return {output}")


@dataclass(frozen=True)
class Method:
    """One method of a contract: its wire name, input and output kinds, and
    the name of the Python attribute a class-based implementation defines
    (``processData`` -> ``process_data`` unless given). A JSON input or
    output may have a JSON Schema (a dict, or a bool); ``description`` is one
    line for listings. Raises ValueError (TypeError for a wrong type) on a
    method the manager would refuse."""

    name: str
    input: Kind
    output: Kind
    attr: str = ""
    _: KW_ONLY
    #: JSON Schema of a JSON input; None when none is declared.
    input_schema: Any = field(default=None, hash=False)
    #: JSON Schema of a JSON output; None when none is declared.
    output_schema: Any = field(default=None, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise ValueError(f"method name {self.name!r} is not a valid name")
        where = f"method {self.name}"
        object.__setattr__(self, "input", _kind(self.input, f"{where}: input"))
        object.__setattr__(self, "output", _kind(self.output, f"{where}: output"))
        if not isinstance(self.description, str):
            raise TypeError(f"{where}: description must be a string, not {type(self.description).__name__}")
        for schema in (self.input_schema, self.output_schema):
            if schema is not None and not isinstance(schema, (dict, bool)):
                raise TypeError(f"{where}: a schema must be a JSON Schema as a dict (or a bool), not {type(schema).__name__}")
        _check_method(self.name, self.input, self.output, self.input_schema, self.output_schema, where,
                      ("input_schema", "output_schema"))
        if not self.attr:
            object.__setattr__(self, "attr", _snake_case(self.name))

    def to_description(self) -> dict[str, Any]:
        """The method as ``capabilities`` carries it: ``{"input": ..., "output": ...}``
        plus ``inputSchema``, ``outputSchema`` and ``description`` when set."""
        out: dict[str, Any] = {"input": self.input.value, "output": self.output.value}
        if self.input_schema is not None:
            out["inputSchema"] = copy.deepcopy(self.input_schema)
        if self.output_schema is not None:
            out["outputSchema"] = copy.deepcopy(self.output_schema)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Contract:
    """A contract: a name, a major version, a description and its methods.
    Every contract includes ``ping`` (none -> none, from ``pluginBase``); it
    is added when missing. Two contracts are equal when their descriptions
    and the attributes their methods dispatch to are.

    Declare one in code (``Contract("greeter", [Method(...)], version=1,
    description="...")``) or from its description
    (:meth:`from_description`); both give equal contracts."""

    name: str
    methods: Mapping[str, Method] = field(default_factory=dict)
    version: int = 1
    description: str = ""

    def __init__(
        self,
        name: str,
        methods: Sequence[Method] | Mapping[str, Method] = (),
        *,
        version: int = 1,
        description: str = "",
    ) -> None:
        if not is_valid_name(name):
            raise ValueError(f"contract name {name!r} is not a valid name")
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"contract {name}: version must be an int, not {type(version).__name__}")
        if not 1 <= version <= MAX_VERSION:
            raise ValueError(f"contract {name}: version must be from 1 to {MAX_VERSION}, not {version}")
        if not isinstance(description, str):
            raise TypeError(f"contract {name}: description must be a string, not {type(description).__name__}")
        if isinstance(methods, Mapping):
            for key, method in methods.items():
                if isinstance(method, Method) and key != method.name:
                    raise ValueError(f"contract {name}: the method under {key!r} is named {method.name!r}")
            listed = list(methods.values())
        else:
            listed = list(methods)
        table: dict[str, Method] = {"ping": _PING}
        for method in listed:
            if not isinstance(method, Method):
                raise TypeError(f"contract {name}: methods must be Method objects, not {type(method).__name__}")
            if method.name in table and method.name != "ping":
                raise ValueError(f"contract {name} lists method {method.name} twice")
            table[method.name] = method
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "methods", table)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "description", description)

    def method(self, name: str) -> Method | None:
        """The method called ``name``, or None."""
        return self.methods.get(name)

    def to_description(self) -> dict[str, Any]:
        """The contract as ``capabilities`` carries it under ``contracts.<name>``
        (and as C++ ``ContractDescription::to_json`` writes it):
        ``{"version": 1, "description": "...", "methods": {"ping": {...}, ...}}``;
        ``description`` is left out when empty. A new dict on every call."""
        out: dict[str, Any] = {
            "version": self.version,
            "methods": {name: method.to_description() for name, method in self.methods.items()},
        }
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_description(cls, name: str, doc: Any) -> "Contract":
        """The contract ``name`` described by ``doc`` (the form of
        :meth:`to_description`, e.g. read from a file with ``json.load``).
        Raises ValueError naming the member that is wrong, as the manager
        would: a name that is not a name, a version that is not an integer
        from 1 to 2^31-1, an input or output other than "none", "json" or
        "bytes", a schema on a non-JSON side or one that is not a JSON
        Schema, a description that is not a string, a ``ping`` that is not
        none -> none. A missing ``input``/``output`` is "none", a missing
        version 1, a missing ``ping`` is added; unknown members are ignored."""
        where = f"contracts.{name}"
        if not is_valid_name(name):
            raise ValueError(f"{where} is not a name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")
        if not isinstance(doc, Mapping):
            raise ValueError(f'{where} must be an object with "version" and "methods", not {_shown(doc)}')
        description = _read_text(doc, "description", where)
        version = doc.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
            raise ValueError(f"{where}.version must be an integer from 1 to {MAX_VERSION}, not {_shown(version)}")
        methods = doc.get("methods")
        if not isinstance(methods, Mapping):
            raise ValueError(f'{where}.methods must be an object from method name to {{"input", "output"}}')
        listed = [_read_method(method, entry, f"{where}.methods.{method}") for method, entry in methods.items()]
        return cls(name, listed, version=version, description=description)


def _read_text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} must be a string, not {_shown(value)}")
    return value


def _read_method(name: object, doc: object, where: str) -> Method:
    if not is_valid_name(name):
        raise ValueError(f"{where} names a method that is not a name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")
    if not isinstance(doc, Mapping):
        raise ValueError(f'{where} must be an object with "input" and "output", not {_shown(doc)}')
    input = _kind(doc.get("input", "none"), f"{where}.input")
    output = _kind(doc.get("output", "none"), f"{where}.output")
    input_schema, output_schema = doc.get("inputSchema"), doc.get("outputSchema")
    _check_method(str(name), input, output, input_schema, output_schema, where, ("inputSchema", "outputSchema"))
    description = _read_text(doc, "description", where)
    return Method(str(name), input, output, input_schema=copy.deepcopy(input_schema),
                  output_schema=copy.deepcopy(output_schema), description=description)


_PING = Method("ping", Kind.NONE, Kind.NONE)

#: The base of every contract: ``ping`` answers ``{}`` if the type can serve calls.
PLUGIN_BASE = Contract("pluginBase", description="The base of every contract: ping answers if the provider is alive")

#: Transforms bytes into bytes (text, documents, images...).
DATA_PROCESSOR = Contract(
    "dataProcessor",
    [
        Method("processData", Kind.BYTES, Kind.BYTES, description="processes the input and returns the result"),
        Method("supportedFormats", Kind.NONE, Kind.JSON,
               output_schema={"type": "array", "items": {"type": "string"}},
               description="the formats (free-form names such as text/plain) this processor accepts"),
    ],
    version=1,
    description="Transforms bytes into bytes",
)

#: The contracts of protocol v1, by wire name.
KNOWN_CONTRACTS: Mapping[str, Contract] = {c.name: c for c in (PLUGIN_BASE, DATA_PROCESSOR)}


def find_contract(name: str) -> Contract | None:
    """The v1 contract called ``name``, or None."""
    return KNOWN_CONTRACTS.get(name)


class DataProcessor:
    """Base class of a class-based ``dataProcessor`` type.

    Override :meth:`process_data`; set ``formats`` or override
    :meth:`supported_formats`; :meth:`ping` answers by itself. Register the
    class with ``@plugin.data_processor("name")`` (or
    ``plugin.provide("name", MyProcessor)``): the SDK makes one instance per
    launch, as ``MyProcessor(config)``, once the launch configuration is
    known, so that the constructor can read config-type data
    (``config.data("my.options")``). A constructor that raises ends the
    launch with exit code 2 and the reason on stderr.

    Instances are shared by every connection's thread: keep per-call state
    in local variables, or guard shared state with a lock.
    """

    #: What :meth:`supported_formats` answers unless overridden.
    formats: Sequence[str] = ()

    def __init__(self, config: "Config") -> None:
        self.config = config

    def process_data(self, data: bytes, ctx: "Context") -> bytes:
        """Processes ``data`` and returns the result (bytes, bytearray,
        memoryview, or str sent as UTF-8). Raise ``InvalidInput`` for input
        this type cannot take."""
        raise NotImplementedError(f"{type(self).__name__} does not implement process_data")

    def supported_formats(self, ctx: "Context") -> list[str]:
        """The formats (free-form, e.g. ``"text/csv"``) this type accepts."""
        return list(self.formats)

    def ping(self, ctx: "Context") -> None:
        """Returns normally if the type can serve calls."""
        return None
