"""A plugin serving a contract of its own (fixture_greeter.py, declared from a
description file) through the real SDK server: what it publishes, and calls
with JSON and bytes on the wire."""

from __future__ import annotations

import json
import os
import unittest

from support import HERE, ClassScope, PluginProcess, run_plugin

GREETER_FIXTURE = os.path.join(HERE, "fixture_greeter.py")


class CustomContractTest(unittest.TestCase):
    plugin: PluginProcess

    @classmethod
    def setUpClass(cls) -> None:
        cls.plugin = PluginProcess(ClassScope(cls), GREETER_FIXTURE,  # type: ignore[arg-type]
                                   config_types=[{"type": "greeter.casual", "data": {"emoji": True}}])

    def call(self, type_name: str, method: str, value: object = None, *, body: bytes | None = None,
             content_type: str = "application/json"):
        if body is None:
            body = b"{}" if value is None else json.dumps(value).encode()
        return self.plugin.call("greeter", type_name, method, body, content_type=content_type)

    def test_capabilities_publish_the_description_file_and_the_config_schema(self) -> None:
        result = run_plugin(["capabilities"], script=GREETER_FIXTURE)
        self.assertEqual(result.returncode, 0, result.stderr)
        doc = json.loads(result.stdout)
        with open(os.path.join(HERE, "greeter_contract.json"), encoding="utf-8") as f:
            self.assertEqual(doc["contracts"], {"greeter": json.load(f)})
        self.assertEqual(doc["types"], {"greeter": [{"type": "casual", "description": "first names and emoji"},
                                                    {"type": "formal"}]})
        self.assertEqual(doc["configTypes"], ["greeter.casual"])
        self.assertEqual(doc["configSchemas"],
                         {"greeter.casual": {"type": "object", "properties": {"emoji": {"type": "boolean"}}}})

    def test_a_json_method_takes_and_returns_structured_values(self) -> None:
        reply = self.call("casual", "greet", {"name": "Ada", "times": 2})
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["content-type"], "application/json")
        self.assertEqual(reply.json(), {"greeting": "hi Ada hi Ada :) (fine)", "words": 6})
        formal = self.call("formal", "greet", {"name": "Ada"})
        self.assertEqual(formal.json(), {"greeting": "Good day, Ada.", "words": 3})

    def test_a_json_input_is_decoded_whatever_the_content_type_says(self) -> None:
        # The contract fixes the kind: a JSON body sent as octet-stream is still JSON.
        reply = self.call("formal", "greet", body=b'{"name": "Bo"}', content_type="application/octet-stream")
        self.assertEqual((reply.status, reply.json()["greeting"]), (200, "Good day, Bo."))

    def test_a_method_without_input_returns_json(self) -> None:
        self.assertEqual(self.call("casual", "languages").json(), ["en", "fr"])
        self.assertEqual(self.call("formal", "languages").json(), ["en"])

    def test_a_bytes_method_takes_and_returns_raw_octets(self) -> None:
        data = bytes(range(256))
        reply = self.call("casual", "banner", body=data, content_type="application/octet-stream")
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["content-type"], "application/octet-stream")
        self.assertEqual(reply.body, b"== " + data + b" ==")
        # bytes stay bytes even when the request calls them JSON
        formal = self.call("formal", "banner", body=b'{"a": 1}', content_type="application/json")
        self.assertEqual((formal.headers["content-type"], formal.body), ("application/octet-stream", b'{"A": 1}'))

    def test_a_json_method_without_output_answers_an_empty_object(self) -> None:
        reply = self.call("casual", "setMood", "cheerful")
        self.assertEqual((reply.status, reply.json()), (200, {}))
        self.assertEqual(self.call("casual", "greet", {"name": "Cy"}).json()["greeting"], "hi Cy :) (cheerful)")
        self.assertEqual(self.call("casual", "setMood", "fine").status, 200)

    def test_ping_answers_without_being_implemented(self) -> None:
        for type_name in ["casual", "formal"]:
            reply = self.call(type_name, "ping")
            self.assertEqual((reply.status, reply.json()), (200, {}))

    def test_bad_input_is_answered_invalid_input(self) -> None:
        not_json = self.call("casual", "greet", body=b"{name", content_type="application/json")
        self.assertEqual((not_json.status, not_json.error_code), (400, "invalid_input"))
        wrong_shape = self.call("casual", "greet", {"times": 2})
        self.assertEqual((wrong_shape.status, wrong_shape.error_code), (400, "invalid_input"))
        self.assertIn("name", wrong_shape.json()["error"]["message"])

    def test_methods_outside_the_contract_are_not_found(self) -> None:
        reply = self.call("casual", "shout")
        self.assertEqual((reply.status, reply.error_code), (404, "not_found"))


if __name__ == "__main__":
    unittest.main()
