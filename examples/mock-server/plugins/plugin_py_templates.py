"""plugin-py-templates: template functions for the mock server's {{tags}}.

    {{uuid}}                    a random UUID (version 4)
    {{now [FORMAT]}}            the UTC time, ISO 8601 or a strftime FORMAT
    {{randomInt MIN MAX}}       a random integer from MIN to MAX (inclusive)
    {{fakeName [first|last|full]}}  a name from the bundled word list (names.txt)
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid

from plugvisor_sdk import InvalidInput, Plugin
from plugvisor_sdk.mock_contracts import TEMPLATE_FUNCTIONS, Argument, TemplateFunctions, template_function

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_HERE = os.path.dirname(os.path.realpath(__file__))


def _load_names() -> tuple[list[str], list[str]]:
    first, last = [], []
    with open(os.path.join(_HERE, "names.txt"), encoding="utf-8") as f:
        for line in f:
            kind, _, name = line.strip().partition(" ")
            if kind == "first":
                first.append(name)
            elif kind == "last":
                last.append(name)
    return first, last


def _integer(text: str, what: str) -> int:
    # Bounded before int(): no 4300-digit surprises, and a clear message.
    if not _INTEGER.fullmatch(text):
        raise InvalidInput(f"{what} must be a whole number of at most 18 digits, not {text[:30]!r}")
    return int(text)


class Fake(TemplateFunctions):
    def __init__(self) -> None:
        self.first, self.last = _load_names()
        self.random = random.SystemRandom()

    @template_function("uuid", description="a random UUID (version 4)")
    def uuid(self) -> str:
        return str(uuid.uuid4())

    @template_function("now", [Argument("format", "a strftime format (default ISO 8601)", required=False)],
                       "the current UTC time")
    def now(self, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
        if len(fmt) > 100:
            raise InvalidInput("the format is longer than 100 characters")
        return time.strftime(fmt, time.gmtime())

    @template_function("randomInt", [Argument("min"), Argument("max")], "a random integer from min to max, inclusive")
    def random_int(self, low: str, high: str) -> int:
        lo, hi = _integer(low, "min"), _integer(high, "max")
        if lo > hi:
            raise InvalidInput(f"min ({lo}) must not be greater than max ({hi})")
        return self.random.randint(lo, hi)

    @template_function("fakeName", [Argument("part", "first, last or full (default)", required=False)],
                       "a name from the bundled word list")
    def fake_name(self, part: str = "full") -> str:
        if part == "first":
            return self.random.choice(self.first)
        if part == "last":
            return self.random.choice(self.last)
        if part == "full":
            return f"{self.random.choice(self.first)} {self.random.choice(self.last)}"
        raise InvalidInput(f"part must be first, last or full, not {part[:30]!r}")


plugin = Plugin(name="py-templates", version="1.0.0", description="Template functions: uuid, now, randomInt, fakeName")
plugin.provide("fake", Fake, contract=TEMPLATE_FUNCTIONS, description="uuid, now, randomInt, fakeName")

if __name__ == "__main__":
    raise SystemExit(plugin.run())
