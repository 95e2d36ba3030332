"""What a plugin declares: the capabilities document and declaration errors (in-process)."""

from __future__ import annotations

import json
import unittest

from plugvisor_sdk import (
    DATA_PROCESSOR,
    Config,
    Contract,
    DataProcessor,
    ErrorCode,
    InvalidInput,
    Kind,
    Method,
    Plugin,
    PluginError,
    is_valid_name,
)
from plugvisor_sdk.context import Context

CONFIG = Config(id="t")


def call(plugin: Plugin, contract: str, type_name: str, method: str, value: object = None) -> object:
    """Builds the plugin's methods as run() does and calls one."""
    entry = plugin._types[(contract, type_name)]
    bound = entry.build(CONFIG)[method]
    return bound.fn(value, Context(contract, type_name, method, None, CONFIG))


class CapabilitiesTest(unittest.TestCase):
    def test_the_document_lists_every_type_with_its_description_and_schema(self) -> None:
        plugin = Plugin(name="demo", version="2.0", description="a demo")
        plugin.config_type("demo.options").config_type("demo.options")

        @plugin.data_processor("upper", formats=["text/plain"], description="upper case",
                               json_schema={"type": "object"})
        def upper(data: bytes) -> bytes:
            return data.upper()

        @plugin.handler("calculator", "basic", "add")
        def add(numbers: list) -> float:
            return sum(numbers)

        doc = plugin.capabilities()
        self.assertEqual(doc, {
            "protocolVersion": 1, "name": "demo", "version": "2.0", "description": "a demo",
            "types": {"dataProcessor": [{"type": "upper", "description": "upper case",
                                         "jsonSchema": {"type": "object"}}],
                      "calculator": [{"type": "basic"}]},
            "configTypes": ["demo.options"],
            "transports": ["unix", "tcp"],  # run() serves both
            # dataProcessor is built in, so its description is published; calculator is only named.
            "contracts": {"dataProcessor": DATA_PROCESSOR.to_description()},
        })
        json.dumps(doc)

    def test_a_plugin_without_types_has_an_empty_types_object(self) -> None:
        doc = Plugin(name="empty", version="0").capabilities()
        self.assertEqual(doc["types"], {})
        self.assertIsNone(doc["description"])


class DeclarationErrorTest(unittest.TestCase):
    def test_names_are_checked(self) -> None:
        self.assertTrue(is_valid_name("a" * 64))
        self.assertTrue(is_valid_name("csv-to-json.v2_x"))
        for bad in ["", "-a", ".a", "a" * 65, "a b", "a/b", "é", None, 5]:
            with self.subTest(name=bad):
                self.assertFalse(is_valid_name(bad))
        plugin = Plugin(name="p", version="1")
        with self.assertRaises(ValueError):
            plugin.data_processor("bad name")(lambda data: data)
        with self.assertRaises(ValueError):
            plugin.handler("bad/contract", "t", "m")

    def test_a_type_or_method_declared_twice_is_refused(self) -> None:
        plugin = Plugin(name="p", version="1")
        plugin.data_processor("x")(lambda data: data)
        with self.assertRaises(ValueError):
            plugin.data_processor("x")(lambda data: data)
        with self.assertRaises(ValueError):
            plugin.provide("x", lambda config: None)

    def test_v1_method_kinds_are_fixed_by_the_contract(self) -> None:
        plugin = Plugin(name="p", version="1")
        with self.assertRaises(ValueError):
            plugin.handler("dataProcessor", "x", "processData", input=Kind.JSON)
        with self.assertRaises(ValueError):
            plugin.handler("dataProcessor", "x", "noSuchMethod")

    def test_schemas_must_be_json_objects_and_formats_lists(self) -> None:
        plugin = Plugin(name="p", version="1")
        with self.assertRaises(TypeError):
            plugin.data_processor("x", json_schema='{"type": "object"}')
        with self.assertRaises(TypeError):
            plugin.data_processor("x", formats="text/plain")

    def test_a_class_must_implement_process_data(self) -> None:
        plugin = Plugin(name="p", version="1")

        class Incomplete(DataProcessor):
            pass

        with self.assertRaises(TypeError):
            plugin.provide("x", Incomplete)

    def test_an_unknown_contract_needs_a_declaration_for_objects(self) -> None:
        with self.assertRaises(ValueError):
            Plugin(name="p", version="1").provide("x", object(), contract="unknownThing")


class HandlerShapeTest(unittest.TestCase):
    def test_handlers_may_take_or_leave_out_the_context(self) -> None:
        plugin = Plugin(name="p", version="1")
        plugin.data_processor("one")(lambda data: data + b"1")
        plugin.data_processor("two")(lambda data, ctx: data + ctx.type.encode())
        plugin.handler("dataProcessor", "two", "supportedFormats")(lambda ctx: [ctx.method])
        plugin.handler("dataProcessor", "one", "supportedFormats")(lambda: ["none"])
        self.assertEqual(call(plugin, "dataProcessor", "one", "processData", b"x"), b"x1")
        self.assertEqual(call(plugin, "dataProcessor", "two", "processData", b"x"), b"xtwo")
        self.assertEqual(call(plugin, "dataProcessor", "two", "supportedFormats"), ["supportedFormats"])
        self.assertEqual(call(plugin, "dataProcessor", "one", "supportedFormats"), ["none"])

    def test_a_function_type_answers_its_formats_and_ping(self) -> None:
        plugin = Plugin(name="p", version="1")
        plugin.data_processor("x", formats=["text/csv"])(lambda data: data)
        self.assertEqual(call(plugin, "dataProcessor", "x", "supportedFormats"), ["text/csv"])
        self.assertIsNone(call(plugin, "dataProcessor", "x", "ping"))

    def test_objects_classes_and_factories_are_made_per_launch(self) -> None:
        class Reverse(DataProcessor):
            formats = ("text/plain",)

            def process_data(self, data: bytes, ctx: Context) -> bytes:
                return data[::-1] + self.config.id.encode()

        class Plain:  # not a DataProcessor subclass; constructor without config
            def process_data(self, data: bytes) -> bytes:
                return b"plain"

            def supported_formats(self) -> list[str]:
                return []

        plugin = Plugin(name="p", version="1")
        plugin.data_processor("reverse")(Reverse)
        plugin.provide("plain", Plain)
        plugin.provide("ready", Plain())
        plugin.provide("made", lambda config: Plain())
        self.assertEqual(call(plugin, "dataProcessor", "reverse", "processData", b"ab"), b"bat")
        self.assertEqual(call(plugin, "dataProcessor", "reverse", "supportedFormats"), ["text/plain"])
        for name in ["plain", "ready", "made"]:
            self.assertEqual(call(plugin, "dataProcessor", name, "processData", b""), b"plain")
            self.assertIsNone(call(plugin, "dataProcessor", name, "ping"))

    def test_declared_contracts_fix_their_kinds_and_include_ping(self) -> None:
        contract = Contract("calc", [Method("add", Kind.JSON, Kind.JSON)])
        self.assertEqual(set(contract.methods), {"ping", "add"})
        self.assertEqual(contract.method("add").attr, "add")
        self.assertEqual(DATA_PROCESSOR.method("supportedFormats").attr, "supported_formats")


class ErrorTest(unittest.TestCase):
    def test_codes_have_their_status(self) -> None:
        self.assertEqual(PluginError("invalid_input", "m").code, ErrorCode.INVALID_INPUT)
        self.assertEqual(InvalidInput("m").code.http_status, 400)
        self.assertEqual(ErrorCode.NOT_FOUND.http_status, 404)
        self.assertEqual(ErrorCode.TIMEOUT.http_status, 500)
        with self.assertRaises(ValueError):
            PluginError("no_such_code", "m")


if __name__ == "__main__":
    unittest.main()
