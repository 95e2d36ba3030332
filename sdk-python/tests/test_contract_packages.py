"""The contract packages' Python side: plugvisor_sdk.http_contracts and
plugvisor_sdk.mock_contracts (no processes: the conversions and checks)."""

import unittest

from plugvisor_sdk import InvalidInput
from plugvisor_sdk.http_contracts import HTTP_HANDLER, HttpHandler, Request, Response
from plugvisor_sdk.mock_contracts import (
    AUTHENTICATOR, DATA_SOURCE, RESPONSE_GENERATOR, TEMPLATE_FUNCTIONS, Argument, AuthResult, Authenticator,
    DataSource, ResponseGenerator, TemplateFunctions, template_function)


class HttpMessagesTest(unittest.TestCase):
    def test_a_request_reads_repeated_fields_and_a_binary_body(self):
        request = Request.from_json({"method": "POST", "path": "/x", "query": {"tag": ["a", "b"]},
                                     "headers": {"Content-Type": "text/plain"}, "bodyBase64": "AP8Q"})
        self.assertEqual(request.query, {"tag": ["a", "b"]})
        self.assertEqual(request.header("content-type"), "text/plain")
        self.assertEqual(request.body, b"\x00\xff\x10")
        self.assertEqual(request.to_json()["bodyBase64"], "AP8Q")

    def test_a_text_body_travels_as_body(self):
        self.assertEqual(Response(200, {}, "héllo").to_json()["body"], "héllo")

    def test_bad_messages_are_refused_naming_the_member(self):
        with self.assertRaisesRegex(InvalidInput, "path must be a string starting with '/'"):
            Request.from_json({"method": "GET", "path": "x"})
        with self.assertRaisesRegex(InvalidInput, "not both"):
            Request.from_json({"method": "GET", "path": "/", "body": "a", "bodyBase64": "YQ=="})
        with self.assertRaisesRegex(InvalidInput, "not base64"):
            Request.from_json({"method": "GET", "path": "/", "bodyBase64": "YQ="})
        with self.assertRaisesRegex(InvalidInput, "a header value may not"):
            Response(200, {"x-evil": "a\r\nset-cookie: b=1"}).to_json()
        with self.assertRaisesRegex(ValueError, "from 100 to 599"):
            Response(999).to_json()
        with self.assertRaisesRegex(InvalidInput, "nested deeper than 128 levels"):
            Request(body=b"[" * 100000).json()

    def test_a_handler_converts_both_ways_and_none_means_not_mine(self):
        class Hello(HttpHandler):
            def handle_request(self, request):
                return Response(200, {"Content-Type": "text/plain"}, "hi") if request.path == "/hi" else None

        self.assertIsNone(Hello().handle({"method": "GET", "path": "/other"}))
        self.assertEqual(Hello().handle({"method": "GET", "path": "/hi"}),
                         {"status": 200, "headers": {"content-type": "text/plain"}, "body": "hi"})
        self.assertEqual(sorted(HTTP_HANDLER.methods), ["handle", "ping"])


class MockContractsTest(unittest.TestCase):
    def test_an_authenticator_answers_the_wire_form(self):
        class Keys(Authenticator):
            def check(self, request, settings):
                key = request.header("x-api-key")
                if key is None:
                    return AuthResult.abstain("no key")
                return AuthResult.allow("k1", {"scope": settings.get("scope")}) if key == "good" else AuthResult.deny("bad key")

        request = {"method": "GET", "path": "/", "headers": {"X-Api-Key": "good"}}
        self.assertEqual(Keys().authenticate({"request": request, "settings": {"scope": "read"}}),
                         {"decision": "allow", "principal": "k1", "claims": {"scope": "read"}, "reason": ""})
        self.assertEqual(Keys().authenticate({"request": {"method": "GET", "path": "/"}})["decision"], "abstain")
        self.assertIn("authenticate", AUTHENTICATOR.methods)

    def test_template_functions_check_names_and_argument_counts(self):
        class Maths(TemplateFunctions):
            @template_function("add", [Argument("a"), Argument("b", required=False)], "adds")
            def add(self, a, b="0"):
                return int(a) + int(b)

        maths = Maths()
        self.assertEqual(maths.functions()[0]["name"], "add")
        self.assertEqual(maths.call({"function": "add", "arguments": ["2", "3"]}), 5)
        with self.assertRaisesRegex(InvalidInput, r"add takes 1 to 2 arguments \(\{\{add a \[b\]\}\}\), not 3"):
            maths.call({"function": "add", "arguments": ["1", "2", "3"]})
        with self.assertRaisesRegex(InvalidInput, "no function 'nope' here"):
            maths.call({"function": "nope", "arguments": []})
        self.assertEqual(sorted(TEMPLATE_FUNCTIONS.methods), ["call", "functions", "ping"])

    def test_a_generator_offers_a_priority_or_declines(self):
        class Only(ResponseGenerator):
            def offer(self, request):
                return 5 if request.path == "/mine" else None

            def respond(self, request):
                return Response.json_body({"ok": True}, 201)

        self.assertEqual(Only().can_handle({"method": "GET", "path": "/mine"}), {"canHandle": True, "priority": 5})
        self.assertEqual(Only().can_handle({"method": "GET", "path": "/x"}), {"canHandle": False, "priority": 0})
        self.assertEqual(Only().generate({"method": "GET", "path": "/mine"})["status"], 201)
        self.assertIn("canHandle", RESPONSE_GENERATOR.methods)

    def test_a_data_source_refuses_structured_parameters_and_keys_rows_by_column(self):
        class Fixed(DataSource):
            def describe(self):
                return {"language": "test", "tables": []}

            def run(self, query, params):
                return ["id", "name"], [(1, "a")]

        self.assertEqual(Fixed().query({"query": "q", "params": [1]}), {"columns": ["id", "name"], "rows": [{"id": 1, "name": "a"}]})
        with self.assertRaisesRegex(InvalidInput, "every parameter must be a string, number, boolean or null"):
            Fixed().query({"query": "q", "params": [{"nested": 1}]})
        self.assertIn("query", DATA_SOURCE.methods)


if __name__ == "__main__":
    unittest.main()
