"""plugvisor_sdk.http_filter: declared hooks, the batch, header changes."""

from __future__ import annotations

import unittest

from plugvisor_sdk import InvalidInput, Plugin
from plugvisor_sdk.http_filter import HOOKS, HttpFilter, apply_headers, filter_contract, provide_filters


class Tagger(HttpFilter):
    def request_headers(self, input, ctx):
        return {"request": {"headers": {"add": {"x-step": "1"}, "remove": ["x-drop"]}}}

    def request_body(self, input, ctx):
        saw = "saw-step" if "x-step" in input["request"]["headers"] else "blind"
        return {"request": {"body": input["request"].get("body", "") + "+" + saw}}


class Responder(HttpFilter):
    def generate_response(self, input, ctx):
        return {"respond": {"status": 503, "headers": {}, "body": "down"}}


class HttpFilterTest(unittest.TestCase):
    def test_a_filter_declares_the_hooks_it_defines(self):
        self.assertEqual(Tagger.implemented(), ["requestHeaders", "requestBody"])
        self.assertEqual(Responder.implemented(), ["generateResponse"])

    def test_the_published_description_is_the_union_of_the_types_hooks(self):
        plugin = Plugin(name="t", version="1")
        provide_filters(plugin, {"tag": Tagger, "respond": Responder})
        methods = plugin.capabilities()["contracts"]["httpFilter"]["methods"]
        self.assertEqual(set(methods), {"ping", "requestHeaders", "requestBody", "generateResponse", "batch"})
        self.assertEqual(methods["batch"], {"input": "json", "output": "json",
                                            "description": filter_contract([]).methods["batch"].description})

    def test_batch_runs_each_hook_on_the_result_of_the_one_before(self):
        result = Tagger().batch({"request": {"method": "GET", "path": "/", "headers": {"x-drop": "1"}, "body": "b"},
                                 "hooks": ["requestHeaders", "requestBody"]}, None)
        self.assertEqual(result["request"]["body"], "b+saw-step")
        self.assertEqual(result["request"]["headers"]["add"], {"x-step": "1"})
        self.assertEqual(result["request"]["headers"]["remove"], ["x-drop"])

    def test_batch_stops_at_a_response(self):
        result = Responder().batch({"request": {"method": "GET", "path": "/"}, "hooks": list(HOOKS)}, None)
        self.assertEqual(result["respond"]["status"], 503)

    def test_batch_refuses_unknown_hooks(self):
        with self.assertRaises(InvalidInput):
            Tagger().batch({"request": {"path": "/"}, "hooks": ["nope"]}, None)

    def test_header_changes_apply_remove_then_set_then_add(self):
        headers = {"x-a": ["1", "2"], "x-b": "b", "x-c": "c"}
        apply_headers(headers, {"remove": ["x-c"], "set": {"x-a": "only"}, "add": {"x-b": "b2"}})
        self.assertEqual(headers, {"x-a": "only", "x-b": ["b", "b2"]})

    def test_a_non_filter_class_is_refused(self):
        with self.assertRaises(TypeError):
            provide_filters(Plugin(name="t", version="1"), {"x": object})


if __name__ == "__main__":
    unittest.main()
