"""Contracts as values: descriptions to and from JSON, their rules, and what
a plugin publishes and dispatches for them (in-process)."""

from __future__ import annotations

import json
import os
import unittest

from plugvisor_sdk import (
    DATA_PROCESSOR,
    PLUGIN_BASE,
    Config,
    Contract,
    Kind,
    Method,
    Plugin,
)
from plugvisor_sdk.context import Context

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = Config(id="t")

# Printed by the C++ side, `plugvisor::contract_info<C>().description.to_json().dump()`
# for PluginBase and DataProcessor: the Python built-ins must publish the same.
CPP_PLUGIN_BASE = ('{"description":"The base of every contract: ping answers if the provider is alive",'
                   '"methods":{"ping":{"input":"none","output":"none"}},"version":1}')
CPP_DATA_PROCESSOR = (
    '{"description":"Transforms bytes into bytes","methods":{"ping":{"input":"none","output":"none"},'
    '"processData":{"description":"processes the input and returns the result","input":"bytes","output":"bytes"},'
    '"supportedFormats":{"description":"the formats (free-form names such as text/plain) this processor accepts",'
    '"input":"none","output":"json","outputSchema":{"items":{"type":"string"},"type":"array"}}},"version":1}'
)

GREET_IN = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
GREET_OUT = {"type": "object", "properties": {"greeting": {"type": "string"}}}
STRINGS = {"type": "array", "items": {"type": "string"}}

#: The greeter contract declared in code ...
GREETER = Contract("greeter", [
    Method("greet", Kind.JSON, Kind.JSON, input_schema=GREET_IN, output_schema=GREET_OUT, description="greets"),
    Method("languages", Kind.NONE, Kind.JSON, output_schema=STRINGS),
    Method("banner", Kind.BYTES, Kind.BYTES),
    Method("setMood", Kind.JSON, Kind.NONE),
], version=2, description="Greets people")

#: ... and as its description.
GREETER_DOC = {
    "version": 2,
    "description": "Greets people",
    "methods": {
        "ping": {"input": "none", "output": "none"},
        "greet": {"input": "json", "output": "json", "inputSchema": GREET_IN, "outputSchema": GREET_OUT,
                  "description": "greets"},
        "languages": {"input": "none", "output": "json", "outputSchema": STRINGS},
        "banner": {"input": "bytes", "output": "bytes"},
        "setMood": {"input": "json", "output": "none"},
    },
}


def call(plugin: Plugin, contract: str, type_name: str, method: str, value: object = None) -> object:
    """Builds the plugin's methods as run() does and calls one."""
    bound = plugin._types[(contract, type_name)].build(CONFIG)[method]
    return bound.fn(value, Context(contract, type_name, method, None, CONFIG))


class DescriptionTest(unittest.TestCase):
    def test_a_contract_declared_in_code_gives_its_description(self) -> None:
        self.assertEqual(GREETER.to_description(), GREETER_DOC)
        json.dumps(GREETER.to_description())

    def test_a_description_gives_the_same_contract_as_code(self) -> None:
        read = Contract.from_description("greeter", GREETER_DOC)
        self.assertEqual(read, GREETER)
        self.assertEqual(read.to_description(), GREETER_DOC)
        self.assertEqual(read.method("setMood").attr, "set_mood")

    def test_the_description_file_of_the_fixture_round_trips(self) -> None:
        with open(os.path.join(HERE, "greeter_contract.json"), encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(Contract.from_description("greeter", doc).to_description(), doc)

    def test_defaults_are_left_out_and_filled_in(self) -> None:
        minimal = Contract("echo", [Method("say", "json", "json")])
        self.assertEqual(minimal.to_description(), {"version": 1, "methods": {
            "ping": {"input": "none", "output": "none"}, "say": {"input": "json", "output": "json"}}})
        # no version, no description, no ping, a method without input or output: version 1, "none", ping added
        read = Contract.from_description("echo", {"methods": {"say": {"input": "json", "output": "json"},
                                                              "poke": {}}, "unknownMember": 1})
        self.assertEqual(read.version, 1)
        self.assertEqual(read.description, "")
        self.assertEqual(set(read.methods), {"ping", "say", "poke"})
        self.assertEqual((read.method("poke").input, read.method("poke").output), (Kind.NONE, Kind.NONE))
        self.assertEqual(Contract.from_description("x", {"methods": {}, "description": None}).description, "")

    def test_the_built_in_contracts_are_described_as_in_cpp(self) -> None:
        self.assertEqual(PLUGIN_BASE.to_description(), json.loads(CPP_PLUGIN_BASE))
        self.assertEqual(DATA_PROCESSOR.to_description(), json.loads(CPP_DATA_PROCESSOR))
        self.assertEqual(Contract.from_description("dataProcessor", json.loads(CPP_DATA_PROCESSOR)), DATA_PROCESSOR)

    def test_old_constructor_calls_still_work(self) -> None:
        contract = Contract("calc", [Method("add", Kind.JSON, Kind.JSON, "plus")])
        self.assertEqual((contract.version, contract.description), (1, ""))
        self.assertEqual(contract.method("add").attr, "plus")
        self.assertIsNone(contract.method("add").input_schema)
        self.assertEqual(Contract("calc", {"add": Method("add", "json", "json", "plus")}), contract)

    def test_a_description_is_a_copy(self) -> None:
        doc = GREETER.to_description()
        doc["methods"]["greet"]["inputSchema"]["type"] = "string"
        self.assertEqual(GREETER.method("greet").input_schema["type"], "object")


class DescriptionErrorTest(unittest.TestCase):
    """Every rule of from_description, with the member it names."""

    def assertRefused(self, name: str, doc: object, message: str) -> None:
        with self.assertRaises(ValueError) as caught:
            Contract.from_description(name, doc)
        self.assertIn(message, str(caught.exception))

    def method_doc(self, **members: object) -> dict:
        return {"methods": {"greet": members}}

    def test_the_contract_name_must_be_a_name(self) -> None:
        for bad in ["", "bad name", "-x", "a" * 65, "é"]:
            with self.subTest(name=bad):
                self.assertRefused(bad, {"methods": {}}, f"contracts.{bad} is not a name")

    def test_the_description_must_be_an_object(self) -> None:
        for bad, shown in [(3, "3"), ([], "[]"), ("x", '"x"'), (None, "null")]:
            with self.subTest(doc=bad):
                self.assertRefused("g", bad, f'contracts.g must be an object with "version" and "methods", not {shown}')

    def test_the_version_must_be_an_integer_from_1_to_2_31_minus_1(self) -> None:
        for bad, shown in [(0, "0"), (-1, "-1"), (2**31, "2147483648"), ("1", '"1"'), (1.0, "1.0"), (True, "true"),
                           (None, "null")]:
            with self.subTest(version=bad):
                self.assertRefused("g", {"version": bad, "methods": {}},
                                   f"contracts.g.version must be an integer from 1 to 2147483647, not {shown}")
        self.assertEqual(Contract.from_description("g", {"version": 2**31 - 1, "methods": {}}).version, 2**31 - 1)

    def test_descriptions_must_be_strings(self) -> None:
        self.assertRefused("g", {"description": 3, "methods": {}}, "contracts.g.description must be a string, not 3")
        self.assertRefused("g", self.method_doc(description=["x"]),
                           'contracts.g.methods.greet.description must be a string, not ["x"]')

    def test_methods_must_be_an_object(self) -> None:
        for doc in [{}, {"methods": []}, {"methods": "greet"}]:
            with self.subTest(doc=doc):
                self.assertRefused("g", doc, 'contracts.g.methods must be an object from method name to {"input", "output"}')

    def test_method_names_must_be_names(self) -> None:
        self.assertRefused("g", {"methods": {"bad name": {}}},
                           "contracts.g.methods.bad name names a method that is not a name")

    def test_a_method_must_be_an_object(self) -> None:
        self.assertRefused("g", {"methods": {"greet": "json"}},
                           'contracts.g.methods.greet must be an object with "input" and "output", not "json"')

    def test_inputs_and_outputs_are_none_json_or_bytes(self) -> None:
        self.assertRefused("greeter", self.method_doc(input=3),
                           'contracts.greeter.methods.greet.input must be "none", "json" or "bytes", not 3')
        self.assertRefused("g", self.method_doc(output="text"),
                           'contracts.g.methods.greet.output must be "none", "json" or "bytes", not "text"')
        self.assertRefused("g", self.method_doc(input=None), 'contracts.g.methods.greet.input must be')
        self.assertRefused("g", self.method_doc(input="JSON"), 'contracts.g.methods.greet.input must be')

    def test_only_json_has_a_schema(self) -> None:
        self.assertRefused("g", self.method_doc(input="bytes", inputSchema={"type": "string"}),
                           "contracts.g.methods.greet.inputSchema is given for a bytes input: only JSON has a schema")
        self.assertRefused("g", self.method_doc(outputSchema={"type": "string"}),
                           "contracts.g.methods.greet.outputSchema is given for a none output: only JSON has a schema")
        # null is no schema
        read = Contract.from_description("g", self.method_doc(input="bytes", inputSchema=None))
        self.assertIsNone(read.method("greet").input_schema)

    def test_a_schema_must_be_a_json_schema(self) -> None:
        for bad in ["object", 3, [], {"type": "text"}, {"type": []}, {"type": ["string", 3]}]:
            with self.subTest(schema=bad):
                self.assertRefused("g", self.method_doc(input="json", inputSchema=bad),
                                   "contracts.g.methods.greet.inputSchema is not a valid JSON Schema")
        for good in [True, False, {}, {"type": ["string", "null"]}]:
            Contract.from_description("g", self.method_doc(output="json", outputSchema=good))

    def test_ping_takes_none_and_returns_none(self) -> None:
        self.assertRefused("g", {"methods": {"ping": {"input": "json", "output": "none"}}},
                           "contracts.g.methods.ping must take none and return none")


class CodeDeclarationErrorTest(unittest.TestCase):
    def test_the_same_rules_hold_in_code(self) -> None:
        with self.assertRaisesRegex(ValueError, "only JSON has a schema"):
            Method("banner", Kind.BYTES, Kind.BYTES, input_schema={"type": "string"})
        with self.assertRaisesRegex(ValueError, "not a valid JSON Schema"):
            Method("greet", Kind.JSON, Kind.JSON, output_schema={"type": "text"})
        with self.assertRaises(TypeError):
            Method("greet", Kind.JSON, Kind.JSON, output_schema='{"type": "string"}')
        with self.assertRaisesRegex(ValueError, 'input must be "none", "json" or "bytes"'):
            Method("greet", "text", Kind.JSON)
        with self.assertRaises(TypeError):
            Method("greet", Kind.JSON, Kind.JSON, description=3)
        with self.assertRaisesRegex(ValueError, "version must be from 1"):
            Contract("g", version=0)
        with self.assertRaises(TypeError):
            Contract("g", version="1")
        with self.assertRaises(TypeError):
            Contract("g", description=None)  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "lists method greet twice"):
            Contract("g", [Method("greet", "json", "json"), Method("greet", "json", "none")])
        with self.assertRaisesRegex(ValueError, "ping must take none"):
            Contract("g", [Method("ping", "none", "json")])


class PublishedContractsTest(unittest.TestCase):
    def test_capabilities_carry_contract_descriptions_and_config_schemas(self) -> None:
        plugin = Plugin(name="p", version="1")
        plugin.config_type("greeter.casual", {"type": "object", "properties": {"emoji": {"type": "boolean"}}})
        plugin.config_type("greeter.plain")

        @plugin.data_processor("upper")
        def upper(data: bytes) -> bytes:
            return data.upper()

        plugin.handler(GREETER, "casual", "greet")(lambda request: {"greeting": "hi"})
        plugin.handler("calculator", "basic", "add")(lambda numbers: sum(numbers))  # named only
        doc = plugin.capabilities()
        self.assertEqual(doc["configTypes"], ["greeter.casual", "greeter.plain"])
        self.assertEqual(doc["configSchemas"], {"greeter.casual": {"type": "object",
                                                                   "properties": {"emoji": {"type": "boolean"}}}})
        self.assertEqual(doc["contracts"], {"greeter": GREETER_DOC,
                                            "dataProcessor": json.loads(CPP_DATA_PROCESSOR)})
        self.assertEqual(set(doc["types"]), {"dataProcessor", "greeter", "calculator"})
        json.dumps(doc)

    def test_known_contracts_without_types_and_plain_plugins_publish_nothing_new(self) -> None:
        plugin = Plugin(name="p", version="1").describe(GREETER)
        plugin.config_type("x")
        doc = plugin.capabilities()
        self.assertNotIn("contracts", doc)
        self.assertNotIn("configSchemas", doc)

    def test_describe_gives_a_contract_named_by_string_its_description_and_kinds(self) -> None:
        plugin = Plugin(name="p", version="1")

        @plugin.handler("greeter", "formal", "greet")
        def greet(request: object) -> dict:
            return {"greeting": "good day"}

        self.assertIsNone(plugin._types[("greeter", "formal")].methods["greet"][0].input)
        plugin.describe(GREETER).describe(Contract.from_description("greeter", GREETER_DOC))  # again: the same
        bound = plugin._types[("greeter", "formal")].methods["greet"][0]
        self.assertEqual((bound.input, bound.output), (Kind.JSON, Kind.JSON))
        self.assertEqual(plugin.capabilities()["contracts"], {"greeter": GREETER_DOC})
        with self.assertRaises(ValueError):
            plugin.handler("greeter", "formal", "banner", input=Kind.JSON)

    def test_a_contract_described_twice_differently_is_refused(self) -> None:
        other_version = Contract("greeter", list(GREETER.methods.values()), version=3, description="Greets people")
        other_schema = Contract.from_description(
            "greeter", {**GREETER_DOC, "methods": {**GREETER_DOC["methods"], "languages": {"input": "none", "output": "json"}}})
        for other in [other_version, other_schema, Contract("greeter", description="Greets people")]:
            with self.subTest(other=other.to_description()):
                plugin = Plugin(name="p", version="1").describe(GREETER)
                with self.assertRaisesRegex(ValueError, "contract greeter is already declared differently"):
                    plugin.describe(other)
                with self.assertRaises(ValueError):
                    plugin.handler(other, "t", "greet")
                with self.assertRaises(ValueError):
                    plugin.provide("t", object(), contract=other)
        with self.assertRaises(ValueError):
            Plugin(name="p", version="1").describe(Contract("dataProcessor", [Method("processData", "bytes", "bytes")]))

    def test_describe_refuses_handlers_that_do_not_fit(self) -> None:
        plugin = Plugin(name="p", version="1")
        plugin.handler("greeter", "t", "shout")(lambda value: value)
        with self.assertRaisesRegex(ValueError, "serves 'shout', which contract greeter does not have"):
            plugin.describe(GREETER)
        plugin = Plugin(name="p", version="1")
        plugin.handler("greeter", "t", "banner", input=Kind.JSON)(lambda value: value)
        with self.assertRaisesRegex(ValueError, "'banner' with kinds that contradict the contract, whose 'banner' takes bytes and returns bytes"):
            plugin.describe(GREETER)
        with self.assertRaises(TypeError):
            Plugin(name="p", version="1").describe("greeter")  # type: ignore[arg-type]

    def test_config_schemas_are_checked(self) -> None:
        plugin = Plugin(name="p", version="1").config_type("a", {"type": "object"}).config_type("a", {"type": "object"})
        plugin.config_type("a")  # no schema: keeps the one declared
        self.assertEqual(plugin.capabilities()["configSchemas"], {"a": {"type": "object"}})
        with self.assertRaisesRegex(ValueError, "already declared with a different json_schema"):
            plugin.config_type("a", {"type": "array"})
        with self.assertRaises(TypeError):
            plugin.config_type("b", '{"type": "object"}')
        with self.assertRaises(ValueError):
            plugin.config_type("b", {"type": "map"})
        with self.assertRaises(ValueError):
            plugin.config_type("bad name")


class ClassBasedContractTest(unittest.TestCase):
    def test_each_method_goes_to_its_snake_case_attribute(self) -> None:
        class Greeter:
            def __init__(self, config: Config) -> None:
                self.id = config.id
                self.mood = "fine"

            def greet(self, request: dict, ctx: Context) -> dict:
                return {"greeting": f"hi {request['name']} from {self.id} via {ctx.method} ({self.mood})"}

            def languages(self) -> list[str]:
                return ["en"]

            def banner(self, data: bytes) -> bytes:
                return data[::-1]

            def set_mood(self, mood: str) -> None:
                self.mood = mood

        plugin = Plugin(name="p", version="1").provide("casual", Greeter, contract=GREETER)
        methods = plugin._types[("greeter", "casual")].build(CONFIG)
        self.assertEqual({name: (m.input, m.output) for name, m in methods.items()}, {
            "ping": (Kind.NONE, Kind.NONE), "greet": (Kind.JSON, Kind.JSON), "languages": (Kind.NONE, Kind.JSON),
            "banner": (Kind.BYTES, Kind.BYTES), "setMood": (Kind.JSON, Kind.NONE)})
        context = Context("greeter", "casual", "greet", None, CONFIG)
        methods["setMood"].fn("happy", context)
        self.assertEqual(methods["greet"].fn({"name": "Ada"}, context), {"greeting": "hi Ada from t via greet (happy)"})
        self.assertEqual(methods["banner"].fn(b"ab", context), b"ba")
        self.assertEqual(methods["languages"].fn(None, context), ["en"])
        self.assertIsNone(methods["ping"].fn(None, context))
        self.assertEqual(plugin.capabilities()["contracts"], {"greeter": GREETER_DOC})

    def test_a_missing_method_is_an_error_at_declaration_naming_it(self) -> None:
        class NoMood:
            def greet(self, request: dict) -> dict:
                return {}

            def languages(self) -> list[str]:
                return []

            def banner(self, data: bytes) -> bytes:
                return data

        with self.assertRaisesRegex(TypeError, r"NoMood must define set_mood \(method setMood\) for greeter type 'x'"):
            Plugin(name="p", version="1").provide("x", NoMood, contract=GREETER)
        with self.assertRaisesRegex(TypeError, r"set_mood \(method setMood\)"):
            Plugin(name="p", version="1").provide("x", 42, contract=GREETER)

    def test_ping_may_be_left_out_and_a_contract_by_name_needs_to_be_known(self) -> None:
        class Banner:
            def banner(self, data: bytes) -> bytes:
                return data

        only_banner = Contract("framer", [Method("banner", Kind.BYTES, Kind.BYTES)])
        plugin = Plugin(name="p", version="1").provide("x", Banner(), contract=only_banner)
        self.assertIsNone(call(plugin, "framer", "x", "ping"))
        with self.assertRaises(ValueError):
            Plugin(name="p", version="1").provide("x", Banner(), contract="framer")
        described = Plugin(name="p", version="1").describe(only_banner).provide("x", Banner(), contract="framer")
        self.assertEqual(call(described, "framer", "x", "banner", b"ab"), b"ab")


if __name__ == "__main__":
    unittest.main()
