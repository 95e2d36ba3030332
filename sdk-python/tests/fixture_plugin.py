#!/usr/bin/env python3
"""The plugin the SDK tests run as a real process: one type per behaviour.

It puts the SDK source (../src) on sys.path itself, so that it also runs
with an environment of only PATH and PLUGVISOR_PROTOCOL. FIXTURE_DRAIN_GRACE
(seconds) shortens the shutdown grace for the test of abandoned calls;
FIXTURE_MAX_CONNECTIONS sets Plugin.max_connections. With
FIXTURE_MARKS set to a directory, ``slow`` first creates the file slow-started
there, so that a test knows the call is in flight.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "src"))

from plugvisor_sdk import (  # noqa: E402
    Config,
    Context,
    Contract,
    DataProcessor,
    Kind,
    Method,
    Plugin,
    PluginError,
    current,
    deadline,
)

plugin = Plugin(name="fixture", version="0.0.1", description="SDK test fixture")
plugin.config_type("fixture.settings")
if "FIXTURE_MAX_CONNECTIONS" in os.environ:
    plugin.max_connections = int(os.environ["FIXTURE_MAX_CONNECTIONS"])
if "FIXTURE_DRAIN_GRACE" in os.environ:
    plugin.drain_grace = float(os.environ["FIXTURE_DRAIN_GRACE"])
if os.environ.get("FIXTURE_FAIL_SETUP"):

    @plugin.on_start
    def refuse(config: Config) -> None:
        raise ValueError("settings are missing on purpose")


@plugin.data_processor("echo", formats=["application/octet-stream"], description="answers its input",
                       json_schema={"type": "object"})
def echo(data: bytes) -> bytes:
    return data


@plugin.data_processor("upper", formats=["text/plain"])
def upper(data: bytes, ctx: Context) -> str:
    return data.decode("utf-8").upper()


@plugin.data_processor("fail")
def fail(data: bytes) -> bytes:
    raise RuntimeError("the fixture failed on purpose")


@plugin.data_processor("raise-code")
def raise_code(data: bytes) -> bytes:
    """Raises PluginError with the code named by the input."""
    raise PluginError(data.decode(), f"raised {data.decode()} on purpose")


@plugin.data_processor("slow")
def slow(data: bytes, ctx: Context) -> bytes:
    """Sleeps for the number of seconds in the input."""
    if "FIXTURE_MARKS" in os.environ:
        open(os.path.join(os.environ["FIXTURE_MARKS"], "slow-started"), "w").close()
    time.sleep(float(data or b"1"))
    return b"slept " + data


@plugin.data_processor("deadline")
def report_deadline(data: bytes, ctx: Context) -> bytes:
    """Answers the milliseconds left before the deadline, or 'none'."""
    assert current() is ctx and deadline() == ctx.deadline
    left = ctx.remaining()
    return b"none" if left is None else str(round(left * 1000)).encode()


@plugin.data_processor("pid")
def pid(data: bytes) -> bytes:
    return str(os.getpid()).encode()


@plugin.data_processor("config")
def config(data: bytes, ctx: Context) -> bytes:
    import json

    return json.dumps({"id": ctx.config.id, "settings": ctx.data("fixture.settings"),
                       "other": ctx.data("other.settings", "absent")}).encode()


@plugin.data_processor("bad-return")
def bad_return(data: bytes) -> int:
    return 42  # not bytes: answered 500


@plugin.data_processor("counted")
class Counted(DataProcessor):
    """Class-based; its constructor reads the configuration."""

    formats = ("text/plain",)

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.prefix = (config.data("fixture.settings") or {}).get("prefix", "")

    def process_data(self, data: bytes, ctx: Context) -> bytes:
        return self.prefix.encode() + str(len(data)).encode()


# A contract v1 does not define, declared so that its kinds are fixed.
CALCULATOR = Contract("calculator", [Method("add", Kind.JSON, Kind.JSON), Method("reset", Kind.NONE, Kind.NONE)])


@plugin.handler(CALCULATOR, "basic", "add", description="adds numbers")
def add(numbers: list[float]) -> float:
    if not isinstance(numbers, list):
        raise PluginError("invalid_input", "send a JSON array of numbers")
    return sum(numbers)


@plugin.handler(CALCULATOR, "basic", "reset")
def reset() -> None:
    return None


# An undeclared contract: kinds follow the Content-Type and the value.
@plugin.handler("mirror", "any", "reflect")
def reflect(value: object, ctx: Context) -> object:
    return value


if __name__ == "__main__":
    raise SystemExit(plugin.run())
