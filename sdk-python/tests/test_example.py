"""The example plugin examples/plugin-py-stats: its logic in-process, then as a process."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import unittest

from support import EXAMPLE, PluginProcess, run_plugin

from plugvisor_sdk import Config, Context, InvalidInput

spec = importlib.util.spec_from_file_location("plugin_py_stats", EXAMPLE)
stats_module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["plugin_py_stats"] = stats_module
spec.loader.exec_module(stats_module)  # type: ignore[union-attr]

CONFIG = Config(id="t")
CTX = Context("dataProcessor", "t", "processData", None, CONFIG)


class StatsTest(unittest.TestCase):
    def stats(self, data: bytes) -> dict:
        return json.loads(stats_module.stats(data, CTX))

    def test_numbers_are_summarized(self) -> None:
        self.assertEqual(self.stats(b"1 2 3 4"), {"count": 4, "min": 1, "max": 4, "mean": 2.5, "median": 2.5,
                                                  "stdev": 1.2909944487358056})
        self.assertEqual(self.stats(b"3\n1\n2\n"), {"count": 3, "min": 1, "max": 3, "mean": 2, "median": 2,
                                                    "stdev": 1.0})
        self.assertEqual(self.stats(b"-1.5e3\t 2.25"), {"count": 2, "min": -1500, "max": 2.25, "mean": -748.875,
                                                        "median": -748.875, "stdev": 1502.25 / 2**0.5})
        self.assertEqual(self.stats(b"7")["stdev"], None)

    def test_bad_input_is_invalid_input_naming_the_line(self) -> None:
        for data, fragment in [(b"", "no numbers"), (b"  \n\n", "no numbers"), (b"1\n2\nthree", "line 3: 'three'"),
                               (b"1 nan", "finite"), (b"inf", "finite"), (b"1_000", "not a number")]:
            with self.subTest(data=data), self.assertRaises(InvalidInput) as raised:
                stats_module.stats(data, CTX)
            self.assertIn(fragment, raised.exception.message)


class CsvToJsonTest(unittest.TestCase):
    def convert(self, data: bytes) -> object:
        return json.loads(stats_module.csv_to_json(data, CTX))

    def test_rows_become_objects_keyed_by_the_header(self) -> None:
        data = 'name,city\r\nAnn,"Paris, FR"\n\nBob,"say ""hi"""\n'.encode()
        self.assertEqual(self.convert(data), [{"name": "Ann", "city": "Paris, FR"},
                                              {"name": "Bob", "city": 'say "hi"'}])
        self.assertEqual(self.convert("\ufeffa\n1\n".encode()), [{"a": "1"}])  # a BOM is dropped
        self.assertEqual(self.convert(b""), [])
        self.assertEqual(self.convert(b"a,b\n"), [])
        self.assertEqual(self.convert("é\nü\n".encode()), [{"é": "ü"}])

    def test_malformed_csv_is_invalid_input(self) -> None:
        for data, fragment in [(b"a,b\n1\n", "line 2: 1 field(s)"), (b"a,a\n1,2\n", "twice"),
                               (b"a\n\xff\n", "not UTF-8"), (b'a\n"unterminated\n', "malformed CSV")]:
            with self.subTest(data=data), self.assertRaises(InvalidInput) as raised:
                stats_module.csv_to_json(data, CTX)
            self.assertIn(fragment, raised.exception.message)


class PercentilesTest(unittest.TestCase):
    def test_percentiles_interpolate_between_ranks(self) -> None:
        processor = stats_module.Percentiles(Config(id="t", config_types={"py-stats.percentiles":
                                                                           {"percentiles": [0, 50, 90, 100]}}))
        result = json.loads(processor.process_data(b" ".join(str(i).encode() for i in range(1, 11)), CTX))
        self.assertEqual(result, {"count": 10, "percentiles": {"p0": 1, "p50": 5.5, "p90": 9.1, "p100": 10}})

    def test_the_default_applies_without_config_data(self) -> None:
        processor = stats_module.Percentiles(CONFIG)
        self.assertEqual(list(json.loads(processor.process_data(b"5", CTX))["percentiles"]),
                         ["p50", "p90", "p95", "p99"])

    def test_bad_config_data_stops_the_launch(self) -> None:
        for data in [{"percentiles": [101]}, {"percentiles": []}, {"percentiles": "50"}, [50], {"percentiles": [True]}]:
            with self.subTest(data=data), self.assertRaises(ValueError):
                stats_module.Percentiles(Config(id="t", config_types={"py-stats.percentiles": data}))


class ExampleProcessTest(unittest.TestCase):
    def test_the_example_serves_its_types(self) -> None:
        plugin = PluginProcess(self, EXAMPLE,
                               config_types=[{"type": "py-stats.percentiles", "data": {"percentiles": [50]}}])
        self.assertEqual(plugin.process("stats", b"1 2 3 4").json()["mean"], 2.5)
        self.assertEqual(plugin.process("csv-to-json", b"a,b\n1,2\n").json(), [{"a": "1", "b": "2"}])
        self.assertEqual(plugin.process("percentiles", b"1 2 3").json(), {"count": 3, "percentiles": {"p50": 2}})
        bad = plugin.process("stats", b"x")
        self.assertEqual((bad.status, bad.error_code), (400, "invalid_input"))
        self.assertEqual(plugin.call("dataProcessor", "csv-to-json", "supportedFormats").json(), ["text/csv"])

    def test_the_example_declares_its_types_and_config_type(self) -> None:
        result = run_plugin(["capabilities"], script=EXAMPLE)
        doc = json.loads(result.stdout)
        self.assertEqual([t["type"] for t in doc["types"]["dataProcessor"]], ["csv-to-json", "stats", "percentiles"])
        self.assertEqual(doc["configTypes"], ["py-stats.percentiles"])
        self.assertIn("jsonSchema", doc["types"]["dataProcessor"][2])

    def test_bad_config_data_exits_2(self) -> None:
        config = {"protocolVersion": 1, "id": "p", "type": "tcp", "address": "127.0.0.1:0", "token": "t",
                  "configTypes": [{"type": "py-stats.percentiles", "data": {"percentiles": [500]}}]}
        result = run_plugin(["--config", json.dumps(config)], script=EXAMPLE)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"py-stats.percentiles", result.stderr)


if __name__ == "__main__":
    unittest.main()
