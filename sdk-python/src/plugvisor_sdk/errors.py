"""Error codes of protocol v1 and the exception a handler raises to answer one.

A handler that raises :class:`PluginError` answers the error body
``{"error": {"code": ..., "message": ...}}`` with the code's HTTP status.
Only the codes a method may answer travel as such (``invalid_input``,
``not_found``, ``too_large``, ``internal``); any other code is answered as
``internal`` with the original code named in the message, because ``503``
means "not run" to the manager and the host-side codes are not HTTP answers.
Any other exception a handler raises is answered ``500 internal``.
"""

from __future__ import annotations

import enum

__all__ = ["ErrorCode", "PluginError", "InvalidInput", "HANDLER_CODES"]


class ErrorCode(str, enum.Enum):
    """The machine-readable codes of docs/protocol.md, section 10.6.

    The first six are wire codes a plugin answers; the rest arise on the host
    side and are listed so that a plugin can name them, not answer them.
    """

    INVALID_INPUT = "invalid_input"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    BAD_REPLY = "bad_reply"
    START_FAILED = "start_failed"
    CONFLICT = "conflict"
    CONFIG = "config"

    @property
    def http_status(self) -> int:
        """The HTTP status a plugin answers with for this code (500 for host-side codes)."""
        return _STATUS.get(self, 500)

    def __str__(self) -> str:
        return self.value


_STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}

#: The codes a handler may answer as such; any other code becomes ``internal``.
HANDLER_CODES = frozenset(
    {ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND, ErrorCode.TOO_LARGE, ErrorCode.INTERNAL}
)


class PluginError(Exception):
    """A failure with a protocol error code; raise it from a handler.

    ``PluginError(ErrorCode.INVALID_INPUT, "line 3 is not a number")`` answers
    ``400`` with that message. Say what was wrong and what to do: the message
    reaches the caller of the host application. ``code`` may also be given
    as its wire name (``"invalid_input"``).
    """

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = ErrorCode(code)
        self.message: str = message

    def __repr__(self) -> str:
        return f"PluginError({self.code.value!r}, {self.message!r})"

    def __str__(self) -> str:
        return self.message


class InvalidInput(PluginError):
    """Shorthand for ``PluginError(ErrorCode.INVALID_INPUT, message)``: answers ``400``."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, message)
