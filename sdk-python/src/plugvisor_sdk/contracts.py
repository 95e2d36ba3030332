"""The contracts of protocol v1, as the wire sees them, and their Python base classes.

A contract is a set of methods; each method takes no input or one input and
returns nothing or one value, each of a :class:`Kind`. The tables here match
the C++ contracts (``contracts/include/plugvisor/contracts.hpp``)::

    pluginBase      ping              none  -> none   (answers {})
    dataProcessor   ping              none  -> none
                    processData       bytes -> bytes  (application/octet-stream)
                    supportedFormats  none  -> json   (a list of strings)

A plugin may also serve contracts this table does not know: declare them
with :class:`Contract` (for named kinds and class-based implementations) or
just name them in ``Plugin.handler`` (kinds then follow the request's
``Content-Type`` and the returned value).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

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


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class Method:
    """One method of a contract: its wire name, input and output kinds, and
    the name of the Python attribute a class-based implementation defines
    (``processData`` -> ``process_data`` unless given)."""

    name: str
    input: Kind
    output: Kind
    attr: str = ""

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise ValueError(f"method name {self.name!r} is not a valid name")
        object.__setattr__(self, "input", Kind(self.input))
        object.__setattr__(self, "output", Kind(self.output))
        if not self.attr:
            object.__setattr__(self, "attr", _snake_case(self.name))


@dataclass(frozen=True)
class Contract:
    """A contract: a name and its methods. Every contract includes ``ping``
    (from ``pluginBase``); it is added when missing."""

    name: str
    methods: Mapping[str, Method] = field(default_factory=dict)

    def __init__(self, name: str, methods: Sequence[Method] | Mapping[str, Method] = ()) -> None:
        if not is_valid_name(name):
            raise ValueError(f"contract name {name!r} is not a valid name")
        listed = list(methods.values()) if isinstance(methods, Mapping) else list(methods)
        table: dict[str, Method] = {"ping": _PING}
        for method in listed:
            table[method.name] = method
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "methods", table)

    def method(self, name: str) -> Method | None:
        """The method called ``name``, or None."""
        return self.methods.get(name)


_PING = Method("ping", Kind.NONE, Kind.NONE)

#: The base of every contract: ``ping`` answers ``{}`` if the type can serve calls.
PLUGIN_BASE = Contract("pluginBase")

#: Transforms bytes into bytes (text, documents, images...).
DATA_PROCESSOR = Contract(
    "dataProcessor",
    [
        Method("processData", Kind.BYTES, Kind.BYTES),
        Method("supportedFormats", Kind.NONE, Kind.JSON),
    ],
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
