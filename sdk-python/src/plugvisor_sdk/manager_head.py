"""The head the manager sends for a call, recognised without a header table.

The manager writes every call's head the same way
(manager/src/transport/plugin_client.cpp, protocol.md 10.8)::

    POST /v1/{contract}/{type}/{method} HTTP/1.1
    Host: ...
    Authorization: Bearer {token}
    X-Plugvisor-Deadline-Ms: {digits}
    Content-Type: ...
    Content-Length: {digits}

:class:`ManagerHeads` matches that spelling, byte for byte, with one regular
expression, and checks what the server's fast path needs: a type and method
the plugin has, the token (``hmac.compare_digest``) and the body limit. On a
kept-alive connection the manager's heads for one method differ only in the
two numbers: once a head has passed every check, everything before the
deadline's digits is remembered, and the next head that starts with those
same bytes (its token is then the one checked) needs only its two numbers
matched, which is several times cheaper than the whole pattern. Anything
else returns None and is judged by the server's general path. Pure: no I/O.
"""

from __future__ import annotations

import hmac
import re
from typing import Any, Mapping

__all__ = ["ManagerHeads", "MAX_DEADLINE_DIGITS", "MAX_LENGTH_DIGITS"]

#: Most digits an X-Plugvisor-Deadline-Ms value may have (protocol.md §10.4),
#: as many as the C++ SDK's int64 milliseconds: checked before int().
MAX_DEADLINE_DIGITS = 19
#: Most digits a Content-Length value may have (the codec's 18), checked
#: before int(): CPython refuses int() of more than 4300 digits.
MAX_LENGTH_DIGITS = 18

#: The whole head: the target after ``/v1/``, the Authorization value, the
#: deadline (or None), the Content-Type and the Content-Length.
_WHOLE = re.compile(
    rb"POST /v1/([^ \t\r\n\0?]+) HTTP/1\.1\r\n"
    rb"Host: [^\r\n\0]*\r\n"
    rb"Authorization: ([^\r\n\0]*)\r\n"
    rb"(?:X-Plugvisor-Deadline-Ms: ([0-9]{1,%d})\r\n)?"
    rb"Content-Type: ([^ \t\r\n\0](?:[^\r\n\0]*[^ \t\r\n\0])?)\r\n"
    rb"Content-Length: ([0-9]{1,%d})\r\n\r\n" % (MAX_DEADLINE_DIGITS, MAX_LENGTH_DIGITS))


def _tail(middle: bytes) -> re.Pattern[bytes]:
    """What follows a remembered prefix: the deadline's digits, the
    remembered Content-Type line (``middle``), the length's digits."""
    return re.compile(rb"([0-9]{1,%d})" % MAX_DEADLINE_DIGITS + re.escape(middle) +
                      rb"([0-9]{1,%d})\r\n\r\n" % MAX_LENGTH_DIGITS)


class ManagerHeads:
    """Recognises the manager's call heads on one connection (not thread-safe:
    one per connection). ``calls`` maps ``b"contract/type/method"`` to what
    the server dispatches (returned as is); ``expected_auth`` is the whole
    Authorization value (``b"Bearer <token>"``)."""

    __slots__ = ("_calls", "_auth", "_max_body", "_prefix", "_prefix_len", "_tail", "_call", "_content_type",
                 "_last", "_last_match")

    def __init__(self, calls: Mapping[bytes, Any], expected_auth: bytes, max_body_bytes: int) -> None:
        self._calls = calls
        self._auth = expected_auth
        self._max_body = max_body_bytes
        self._prefix = b"\0"  # nothing remembered: no head starts with NUL
        self._prefix_len = 1
        self._tail: re.Pattern[bytes] | None = None
        self._call: Any = None
        self._content_type = ""
        self._last = b"\0"  # the last head that passed, whole (the deadline and length included)
        self._last_match: tuple[Any, int, int, int | None, str] | None = None

    def match(self, buffer: bytearray, size: int) -> tuple[Any, int, int, int | None, str] | None:
        """If ``buffer[:size]`` starts with the manager's head of a call this
        plugin has, with the right token and a body within the limit: (the
        call, the head's length, the body's length, the deadline in
        milliseconds or None, the Content-Type). None otherwise. The body
        need not have come whole."""
        if buffer.startswith(self._last, 0, size):  # the same head again (same deadline and length): the same answer
            return self._last_match
        if buffer.startswith(self._prefix, 0, size):
            tail = self._tail.match(buffer, self._prefix_len, size)  # type: ignore[union-attr]
            if tail is not None:
                length = int(tail.group(2))
                if length > self._max_body:
                    return None
                matched = self._call, tail.end(), length, int(tail.group(1)), self._content_type
                self._last = bytes(buffer[:matched[1]])
                self._last_match = matched
                return matched
        whole = _WHOLE.match(buffer, 0, size)
        if whole is None:
            return None
        target, auth, deadline_text, content_type, length_text = whole.groups()
        call = self._calls.get(target)
        length = int(length_text)
        if call is None or length > self._max_body or not hmac.compare_digest(auth, self._auth):
            return None
        text = content_type.decode("latin-1")
        if deadline_text is not None:  # the manager's usual head: remember its fixed part
            self._prefix = bytes(buffer[:whole.start(3)])
            self._prefix_len = len(self._prefix)
            self._tail = _tail(bytes(buffer[whole.end(3):whole.start(5)]))
            self._call = call
            self._content_type = text
        matched = call, whole.end(), length, None if deadline_text is None else int(deadline_text), text
        self._last = bytes(buffer[:matched[1]])
        self._last_match = matched
        return matched
