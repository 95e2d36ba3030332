"""The launch configuration and durations, checked in-process (section 5)."""

from __future__ import annotations

import json
import unittest

from plugvisor_sdk import ConfigError, parse_duration, parse_launch_config

GOOD = {"protocolVersion": 1, "id": "p", "type": "unix", "address": "/tmp/x/p.sock", "token": "t"}


def config_with(**changes: object) -> str:
    doc = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


class DurationTest(unittest.TestCase):
    def test_every_form_of_the_grammar_is_accepted(self) -> None:
        cases = {"0": 0, "0ms": 0, "0s": 0, "0h": 0, "250ms": 250, "10s": 10_000, "5m": 300_000,
                 "1h": 3_600_000, "007s": 7000, f"{2**40}ms": 2**40}
        for text, ms in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_duration(text), ms)

    def test_other_forms_are_refused(self) -> None:
        for text in ["", "10", "-1s", "+1s", "1.5s", "1m30s", " 1s", "1s ", "1S", "1 s", "s", "1d",
                     f"{2**40 + 1}ms", "\u0663s", "1_0s", "9" * 5000 + "s"]:  # 5000 digits: no int() ValueError
            with self.subTest(text=text), self.assertRaises(ConfigError):
                parse_duration(text)


class LaunchConfigTest(unittest.TestCase):
    def test_a_full_configuration_is_read_and_unknown_members_are_ignored(self) -> None:
        launch = parse_launch_config(config_with(
            token="s3cr3t-token", idleTimeout="90s", maxBodyBytes=1024, future={"x": 1},
            configTypes=[{"type": "a.b", "data": {"k": [1, 2]}}, {"type": "no.data"}]))
        self.assertEqual(launch.transport, "unix")
        self.assertEqual(launch.address, "/tmp/x/p.sock")
        self.assertEqual(launch.token, "s3cr3t-token")
        self.assertEqual(launch.max_body_bytes, 1024)
        self.assertEqual(launch.config.id, "p")
        self.assertEqual(launch.config.idle_timeout_ms, 90_000)
        self.assertEqual(launch.config.idle_timeout, 90.0)
        self.assertEqual(launch.config.data("a.b"), {"k": [1, 2]})
        self.assertTrue(launch.config.has("no.data"))
        self.assertIsNone(launch.config.data("no.data"))
        self.assertEqual(launch.config.data("absent", "default"), "default")
        self.assertNotIn("s3cr3t", repr(launch))  # the token stays out of logs

    def test_absent_optional_members_take_their_defaults(self) -> None:
        launch = parse_launch_config(config_with())
        self.assertEqual(launch.config.idle_timeout_ms, 0)  # no idle exit
        self.assertEqual(launch.max_body_bytes, 64 * 1024 * 1024)
        self.assertEqual(dict(launch.config.config_types), {})

    def test_bytes_are_accepted(self) -> None:
        self.assertEqual(parse_launch_config(config_with().encode()).config.id, "p")

    def test_a_configuration_nested_deeper_than_the_limit_is_refused_naming_the_limit(self) -> None:
        def nested(depth: int) -> str:
            return config_with(extra=json.loads("[" * (depth - 1) + "]" * (depth - 1)))
        self.assertEqual(parse_launch_config(nested(128)).config.id, "p")  # the object is one level
        with self.assertRaisesRegex(ConfigError, r"invalid --config: JSON nested deeper than 128 levels"):
            parse_launch_config(nested(129))
        with self.assertRaisesRegex(ConfigError, "nested deeper than 128"):
            parse_launch_config("[" * 200_000)  # RecursionError without the bound

    def test_invalid_configurations_are_refused_with_the_member_named(self) -> None:
        cases = {
            "not json": ("{", "not valid JSON"),
            "an array": ("[]", "JSON object"),
            "missing id": (config_with(id=...), '"id"'),
            "missing token": (config_with(token=...), '"token"'),
            "missing address": (config_with(address=...), '"address"'),
            "missing type": (config_with(type=...), '"type"'),
            "missing version": (config_with(protocolVersion=...), "protocolVersion"),
            "version 2": (config_with(protocolVersion=2), "version 1"),
            "version as string": (config_with(protocolVersion="1"), "protocolVersion"),
            "version as float": ('{"protocolVersion":1.0,"id":"p","type":"unix","address":"a","token":"t"}',
                                 "protocolVersion"),
            "version as bool": (config_with(protocolVersion=True), "protocolVersion"),
            "udp": (config_with(type="udp"), '"unix" or "tcp"'),
            "empty address": (config_with(address=""), '"address" is empty'),
            "empty token": (config_with(token=""), '"token" is empty'),
            "id not a string": (config_with(id=5), '"id"'),
            "bare number duration": (config_with(idleTimeout="10"), "idleTimeout"),
            "duration as number": (config_with(idleTimeout=5), "idleTimeout"),
            "fraction duration": (config_with(idleTimeout="1.5s"), "idleTimeout"),
            "zero body limit": (config_with(maxBodyBytes=0), "maxBodyBytes"),
            "negative body limit": (config_with(maxBodyBytes=-1), "maxBodyBytes"),
            "float body limit": (config_with(maxBodyBytes=1.5), "maxBodyBytes"),
            "bool body limit": (config_with(maxBodyBytes=True), "maxBodyBytes"),
            "config types not array": (config_with(configTypes={}), "configTypes"),
            "config type without type": (config_with(configTypes=[{"data": 1}]), "configTypes"),
        }
        for name, (text, fragment) in cases.items():
            with self.subTest(name), self.assertRaises(ConfigError) as raised:
                parse_launch_config(text)
            self.assertIn(fragment, str(raised.exception))


if __name__ == "__main__":
    unittest.main()
