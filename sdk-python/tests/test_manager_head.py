"""manager_head.ManagerHeads: the manager's call head recognised byte for
byte, the token, target and body limit checked, its fixed part remembered;
anything else is None (the server's general path judges it)."""

from __future__ import annotations

import unittest

from plugvisor_sdk.manager_head import ManagerHeads

AUTH = b"Bearer " + b"ab" * 32
CALL = ("dataProcessor", "echo", "processData", "bound")


def head(target: bytes = b"dataProcessor/echo/processData", auth: bytes = AUTH, deadline: bytes | None = b"30000",
         content_type: bytes = b"application/octet-stream", length: bytes = b"5") -> bytearray:
    line = b"X-Plugvisor-Deadline-Ms: " + deadline + b"\r\n" if deadline is not None else b""
    return bytearray(b"POST /v1/" + target + b" HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + auth + b"\r\n" +
                     line + b"Content-Type: " + content_type + b"\r\nContent-Length: " + length + b"\r\n\r\nhello")


class ManagerHeadsTest(unittest.TestCase):
    def heads(self) -> ManagerHeads:
        return ManagerHeads({b"dataProcessor/echo/processData": CALL}, AUTH, 1000)

    def match(self, heads: ManagerHeads, buffer: bytearray) -> object:
        return heads.match(buffer, len(buffer))

    def test_the_manager_s_head_gives_the_call_its_lengths_and_deadline(self) -> None:
        buffer = head()
        self.assertEqual(self.match(self.heads(), buffer),
                         (CALL, len(buffer) - 5, 5, 30000, "application/octet-stream"))
        self.assertEqual(self.match(self.heads(), head(deadline=None))[3], None)  # type: ignore[index]

    def test_every_departure_from_it_is_none_before_and_after_a_head_was_remembered(self) -> None:
        departures = {
            "a wrong token": head(auth=b"Bearer " + b"ab" * 31 + b"ac"),
            "an unknown method": head(target=b"dataProcessor/echo/nope"),
            "a body over the limit": head(length=b"1001"),
            "a deadline of 20 digits": head(deadline=b"9" * 20),
            "a deadline that is no number": head(deadline=b"+5"),
            "a length of 19 digits": head(length=b"1" * 19),
            "a lower-case name": head().replace(b"Host:", b"host:"),
            "a query": head(target=b"dataProcessor/echo/processData?x"),
            "a head cut short": head()[:60],
        }
        for remembered in (False, True):
            heads = self.heads()
            if remembered:
                self.assertIsNotNone(self.match(heads, head()))
                self.assertIsNotNone(self.match(heads, head(deadline=b"29999", length=b"7")))
            for what, buffer in departures.items():
                with self.subTest(what=what, remembered=remembered):
                    self.assertIsNone(self.match(heads, buffer))
            self.assertIsNotNone(self.match(heads, head()))  # a departure leaves the good head served

    def test_the_remembered_head_reads_each_head_s_own_numbers(self) -> None:
        heads = self.heads()
        self.assertEqual(self.match(heads, head())[2:4], (5, 30000))  # type: ignore[index]
        self.assertEqual(self.match(heads, head())[2:4], (5, 30000))  # type: ignore[index]
        self.assertEqual(self.match(heads, head(deadline=b"12", length=b"900"))[2:4], (900, 12))  # type: ignore[index]
        other = head(content_type=b"application/json")
        self.assertEqual(self.match(heads, other)[4], "application/json")  # type: ignore[index]
        self.assertEqual(self.match(heads, head())[4], "application/octet-stream")  # type: ignore[index]

    def test_only_the_first_size_bytes_are_looked_at(self) -> None:
        # The server reads into one buffer: what follows ``size`` is the previous request's.
        heads = self.heads()
        buffer = head()
        for size in (40, len(buffer) - 8, len(buffer) - 6):
            with self.subTest(size=size):
                self.assertIsNone(heads.match(buffer, size))
                self.assertIsNotNone(heads.match(buffer, len(buffer)))  # now remembered


if __name__ == "__main__":
    unittest.main()
