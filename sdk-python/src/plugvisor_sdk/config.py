"""The launch configuration (docs/protocol.md, section 5.2) and durations (5.3).

:func:`parse_launch_config` turns the one JSON line the manager writes (or
the ``--config '<json>'`` argument) into a :class:`LaunchConfig`, raising
:class:`ConfigError` (exit code 2) on anything the protocol does not allow.
Handlers see only its public part, :class:`Config`: the plugin id, the idle
timeout and the data of the config types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from . import json_depth

__all__ = [
    "Config",
    "LaunchConfig",
    "ConfigError",
    "parse_duration",
    "parse_launch_config",
    "DEFAULT_MAX_BODY_BYTES",
]

#: The largest request body accepted when the configuration names none (64 MiB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

_DURATION = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_MAX_DURATION_NUMBER = 2**40


class ConfigError(ValueError):
    """The launch configuration or the command line is not what the protocol
    allows; the plugin writes the message to stderr and exits with code 2."""


def parse_duration(text: str) -> int:
    """Parses a protocol duration (``"0"``, ``"250ms"``, ``"10s"``, ``"5m"``,
    ``"1h"``) into whole milliseconds. Raises :class:`ConfigError` on any
    other form (a bare number other than 0, a sign, a fraction, a compound
    such as ``"1m30s"``, or a number over 2**40)."""
    if not isinstance(text, str):
        raise ConfigError(f"duration {text!r} is not a string")
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f'invalid duration "{text}": write a whole number with a unit (ms, s, m, h), e.g. "250ms" or "5m", or "0"'
        )
    digits = match.group(1)
    # The length first: CPython refuses int() of over 4300 digits.
    number = int(digits) if len(digits) <= len(str(_MAX_DURATION_NUMBER)) else _MAX_DURATION_NUMBER + 1
    if number > _MAX_DURATION_NUMBER:
        raise ConfigError(f'invalid duration "{text}": the number is over 2^40')
    return number * _UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class Config:
    """What a plugin instance was launched with, as handlers and type
    constructors see it. Immutable and safe to share between threads."""

    #: The plugin id the manager gave this instance (its file name); use it in logs.
    id: str
    #: The idle timeout in milliseconds (0: never idle out).
    idle_timeout_ms: int = 0
    #: The data of each declared config type the manager handed over, by type name.
    config_types: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def idle_timeout(self) -> float:
        """The idle timeout in seconds (0.0: never idle out)."""
        return self.idle_timeout_ms / 1000.0

    def data(self, name: str, default: Any = None) -> Any:
        """The data of config type ``name``, or ``default`` when the manager
        gave none (the host has no data for it, or the type was not declared
        with ``Plugin.config_type``). A JSON ``null`` is returned as None."""
        return self.config_types.get(name, default)

    def has(self, name: str) -> bool:
        """True if the manager handed over data for config type ``name``."""
        return name in self.config_types


@dataclass(frozen=True)
class LaunchConfig:
    """The whole launch configuration, including what only the SDK needs."""

    #: The part handlers see.
    config: Config
    #: ``"unix"`` or ``"tcp"``.
    transport: str
    #: The socket path (unix) or ``HOST:PORT`` (tcp), as configured.
    address: str
    #: The bearer token every request but ``GET /healthz`` must carry.
    token: str = field(repr=False)
    #: The largest request body accepted.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def _is_integer(value: object) -> bool:
    return type(value) is int  # bool is an int subclass, 1.0 a float: neither is a JSON integer


def _require(doc: Mapping[str, Any], key: str, kind: type, kind_name: str) -> Any:
    if key not in doc:
        raise ConfigError(f'invalid --config: missing "{key}"')
    value = doc[key]
    ok = _is_integer(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise ConfigError(f'invalid --config: "{key}" must be {kind_name}')
    return value


def parse_launch_config(text: str | bytes) -> LaunchConfig:
    """Parses and checks a launch configuration (one JSON object). Unknown
    members are ignored. Raises :class:`ConfigError` naming what is wrong."""
    try:
        doc = json_depth.loads(text)
    except json_depth.TooDeep as e:
        raise ConfigError(f"invalid --config: {e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"invalid --config: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ConfigError("invalid --config: expected a JSON object")

    version = _require(doc, "protocolVersion", int, "a JSON integer")
    if version != 1:
        raise ConfigError(f"invalid --config: protocolVersion {version} is not supported; this plugin speaks version 1")
    plugin_id = _require(doc, "id", str, "a string")
    transport = _require(doc, "type", str, "a string")
    if transport not in ("unix", "tcp"):
        raise ConfigError(f'invalid --config: "type" must be "unix" or "tcp", not "{transport}"')
    address = _require(doc, "address", str, "a string")
    if not address:
        raise ConfigError('invalid --config: "address" is empty')
    token = _require(doc, "token", str, "a string")
    if not token:
        raise ConfigError('invalid --config: "token" is empty')

    idle_ms = 0
    if "idleTimeout" in doc:
        if not isinstance(doc["idleTimeout"], str):
            raise ConfigError('invalid --config: "idleTimeout" must be a duration string such as "5m" or "0"')
        try:
            idle_ms = parse_duration(doc["idleTimeout"])
        except ConfigError as e:
            raise ConfigError(f'invalid --config: "idleTimeout": {e}') from None

    max_body = DEFAULT_MAX_BODY_BYTES
    if "maxBodyBytes" in doc:
        max_body = doc["maxBodyBytes"]
        if not _is_integer(max_body) or max_body <= 0:
            raise ConfigError('invalid --config: "maxBodyBytes" must be a positive JSON integer')

    config_types: dict[str, Any] = {}
    if "configTypes" in doc:
        entries = doc["configTypes"]
        if not isinstance(entries, list):
            raise ConfigError('invalid --config: "configTypes" must be an array of {"type", "data"}')
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                raise ConfigError('invalid --config: each "configTypes" entry must be an object with a string "type"')
            config_types[entry["type"]] = entry.get("data")

    return LaunchConfig(
        config=Config(id=plugin_id, idle_timeout_ms=idle_ms, config_types=MappingProxyType(config_types)),
        transport=transport,
        address=address,
        token=token,
        max_body_bytes=max_body,
    )
