"""plugin-py-greeter: a Python plugin for the host-defined greeter contract.

The contract comes from greeter.json, the description the C++ host prints
(``custom-contract-host --describe``): the Python side declares nothing by
hand, so it cannot drift from the C++ header.
"""

from __future__ import annotations

import json
import os

from plugvisor_sdk import Config, Contract, InvalidInput, Plugin

with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "greeter.json"), encoding="utf-8") as f:
    GREETER = Contract.from_description("greeter", json.load(f))

PHRASES = {"en": ("Hi", "Bye"), "es": ("Hola", "Adios"), "it": ("Ciao", "Ciao")}

plugin = Plugin(name="py-greeter", version="1.0.0", description="greeter in Python")


def _person(value: object) -> tuple[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        raise InvalidInput('send a person: {"name": "...", "language": "en", "titles": [...]}')
    language = value.get("language") or "en"
    if language not in PHRASES:
        raise InvalidInput(f"no phrases in language {language!r} (ask languages for the ones there are)")
    titles = value.get("titles") or []
    if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
        raise InvalidInput("titles must be a list of strings")
    return " ".join([*titles, value["name"]]), language


def _greeting(text: str, language: str) -> dict:
    return {"text": text, "language": language, "words": len(text.split())}


class Casual:
    """The ``casual`` type: first names only, whatever the titles."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def greet(self, person: dict) -> dict:
        name, language = _person(person)
        return _greeting(f"{PHRASES[language][0]} {name.split()[-1]}", language)

    def farewell(self, person: dict) -> dict:
        name, language = _person(person)
        return _greeting(f"{PHRASES[language][1]} {name.split()[-1]}", language)

    def languages(self) -> list[str]:
        return sorted(PHRASES)

    def banner(self, data: bytes) -> bytes:
        return b"~ " + data + b" ~\n"


plugin.provide("casual", Casual, contract=GREETER, description="first names only, in Python")

if __name__ == "__main__":
    raise SystemExit(plugin.run())
