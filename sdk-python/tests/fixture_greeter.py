#!/usr/bin/env python3
"""A plugin serving a contract of its own, ``greeter``, read from a
description file (greeter_contract.json, the form a C++ host prints):
``casual`` is a class (methods by snake-case attribute), ``formal`` is
served by handlers that name the contract by string only.
"""

from __future__ import annotations

import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from plugvisor_sdk import Config, Contract, Context, InvalidInput, Plugin  # noqa: E402

with open(os.path.join(HERE, "greeter_contract.json"), encoding="utf-8") as f:
    GREETER = Contract.from_description("greeter", json.load(f))

plugin = Plugin(name="greeter-fixture", version="0.0.1")
plugin.config_type("greeter.casual", {"type": "object", "properties": {"emoji": {"type": "boolean"}}})


def _request(value: object) -> tuple[str, int]:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise InvalidInput('send {"name": "...", "times": N}')
    times = value.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise InvalidInput("times must be a positive integer")
    return value["name"], times


class Casual:
    """Made once per launch; reads its config type."""

    def __init__(self, config: Config) -> None:
        self.emoji = bool((config.data("greeter.casual") or {}).get("emoji"))
        self.mood = "fine"
        self.lock = threading.Lock()

    def greet(self, request: dict, ctx: Context) -> dict:
        name, times = _request(request)
        with self.lock:
            mood = self.mood
        greeting = " ".join([f"hi {name}"] * times) + (" :)" if self.emoji else "") + f" ({mood})"
        return {"greeting": greeting, "words": len(greeting.split())}

    def languages(self) -> list[str]:
        return ["en", "fr"]

    def banner(self, data: bytes) -> bytes:
        return b"== " + data + b" =="

    def set_mood(self, mood: object) -> None:
        if not isinstance(mood, str):
            raise InvalidInput("a mood is a JSON string")
        with self.lock:
            self.mood = mood


plugin.provide("casual", Casual, contract=GREETER, description="first names and emoji")


@plugin.handler("greeter", "formal", "greet")
def formal_greet(request: object) -> dict:
    name, times = _request(request)
    greeting = " ".join([f"Good day, {name}."] * times)
    return {"greeting": greeting, "words": len(greeting.split())}


@plugin.handler("greeter", "formal", "languages")
def formal_languages() -> list[str]:
    return ["en"]


@plugin.handler("greeter", "formal", "banner")
def formal_banner(data: bytes) -> bytes:
    return data.upper()


if __name__ == "__main__":
    raise SystemExit(plugin.run())
