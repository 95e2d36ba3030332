"""plugin-py-stats: statistics on numbers and CSV to JSON, a plugvisor plugin in Python.

Types (all of the dataProcessor contract):

  csv-to-json   CSV with a header row -> JSON array of objects (values stay strings)
  stats         numbers -> {"count","min","max","mean","median","stdev"}
  percentiles   numbers -> {"count","percentiles":{"p50":...}}; which percentiles
                comes from the config type "py-stats.percentiles",
                e.g. {"percentiles": [50, 90, 99]} (default 50, 90, 95, 99)

Numbers are separated by whitespace: one per line, or several on a line.
Built into build/plugins/plugin-py-stats by examples/plugin-py-stats/CMakeLists.txt.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from plugvisor_sdk import Config, Context, DataProcessor, ErrorCode, InvalidInput, Plugin, PluginError

plugin = Plugin(name="py-stats", version="1.0.0", description="Statistics on numbers, and CSV to JSON (Python)")

PERCENTILES_CONFIG = "py-stats.percentiles"
plugin.config_type(PERCENTILES_CONFIG)

# How many input lines are parsed between two looks at the caller's deadline.
DEADLINE_CHECK_LINES = 65536


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _number(value: float) -> int | float:
    """A whole float as a JSON integer (1, not 1.0) while it is exact."""
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def parse_numbers(data: bytes, ctx: Context | None = None) -> list[float]:
    """The whitespace-separated numbers of ``data``; InvalidInput names the
    first token that is not a finite number, by line."""
    numbers: list[float] = []
    append = numbers.append
    for line_no, line in enumerate(data.split(b"\n"), 1):
        for token in line.split():
            try:
                if b"_" in token:
                    raise ValueError(token)
                value = float(token)
            except ValueError:
                shown = token[:40].decode("utf-8", "replace")
                raise InvalidInput(f"line {line_no}: '{shown}' is not a number") from None
            if not math.isfinite(value):
                raise InvalidInput(f"line {line_no}: '{token.decode('ascii', 'replace')}' is not a finite number")
            append(value)
        if ctx is not None and line_no % DEADLINE_CHECK_LINES == 0 and ctx.expired():
            # Nobody waits for the answer any more: stop working.
            raise PluginError(ErrorCode.INTERNAL, f"gave up at line {line_no}: the caller's deadline passed")
    if not numbers:
        raise InvalidInput("no numbers in the input: send numbers separated by spaces or newlines")
    return numbers


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarize(numbers: list[float]) -> dict[str, Any]:
    """count, min, max, mean, median and the sample standard deviation
    (null for fewer than two numbers)."""
    n = len(numbers)
    ordered = sorted(numbers)
    mean = math.fsum(ordered) / n
    if not math.isfinite(mean):
        raise InvalidInput("the numbers are too large to average")
    stdev = None
    if n >= 2:
        try:
            stdev = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / (n - 1))
        except OverflowError:
            raise InvalidInput("the numbers are too large for a standard deviation") from None
    return {
        "count": n,
        "min": _number(ordered[0]),
        "max": _number(ordered[-1]),
        "mean": _number(mean),
        "median": _number(_median(ordered)),
        "stdev": stdev,
    }


@plugin.data_processor(
    "csv-to-json",
    formats=["text/csv"],
    description="CSV with a header row to a JSON array of objects (values stay strings)",
)
def csv_to_json(data: bytes, ctx: Context) -> bytes:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"the input is not UTF-8 text: {e}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header == []:  # leading blank lines
            header = next(reader, None)
        if header is None:
            return b"[]"
        if len(set(header)) != len(header):
            raise InvalidInput(f"the header row names a column twice: {header}")
        rows = []
        for row in reader:
            if not row:
                continue  # blank line
            if len(row) != len(header):
                raise InvalidInput(
                    f"line {reader.line_num}: {len(row)} field(s), but the header has {len(header)}"
                )
            rows.append(dict(zip(header, row)))
    except csv.Error as e:
        raise InvalidInput(f"line {reader.line_num}: malformed CSV: {e}") from None
    return _json(rows)


@plugin.data_processor(
    "stats",
    formats=["text/plain"],
    description="count, min, max, mean, median and stdev of whitespace-separated numbers",
)
def stats(data: bytes, ctx: Context) -> bytes:
    return _json(summarize(parse_numbers(data, ctx)))


PERCENTILES_SCHEMA = {
    "type": "object",
    "description": f"config type {PERCENTILES_CONFIG}",
    "properties": {
        "percentiles": {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 100},
            "minItems": 1,
        }
    },
}


@plugin.data_processor(
    "percentiles",
    description=f"percentiles of whitespace-separated numbers, as configured by {PERCENTILES_CONFIG}",
    json_schema=PERCENTILES_SCHEMA,
)
class Percentiles(DataProcessor):
    """Made once per launch, with the configuration: a bad config-type value
    stops the launch (exit 2) instead of failing every call."""

    formats = ("text/plain",)
    DEFAULT = (50.0, 90.0, 95.0, 99.0)

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        options = config.data(PERCENTILES_CONFIG) or {}
        points = options.get("percentiles", self.DEFAULT) if isinstance(options, dict) else None
        if (
            not isinstance(points, (list, tuple))
            or not points
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100 for p in points)
        ):
            raise ValueError(
                f'config type {PERCENTILES_CONFIG} must be {{"percentiles": [numbers from 0 to 100]}}, not {options!r}'
            )
        self.points = [float(p) for p in points]

    def process_data(self, data: bytes, ctx: Context) -> bytes:
        ordered = sorted(parse_numbers(data, ctx))
        last = len(ordered) - 1
        result = {}
        for p in self.points:
            position = p / 100 * last
            low = math.floor(position)
            high = min(low + 1, last)
            value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
            result[f"p{p:g}"] = _number(value)
        return _json({"count": len(ordered), "percentiles": result})


if __name__ == "__main__":
    raise SystemExit(plugin.run())
