"""The per-call context handed to handlers, and the calling thread's deadline.

Every handler may take a :class:`Context` as its last argument. It names the
call (contract, type, method), carries the caller's deadline from
``X-Plugvisor-Deadline-Ms`` as a :func:`time.monotonic` instant, and gives
access to the launch :class:`~plugvisor_sdk.config.Config` (config-type
data). :func:`deadline` and :func:`current` return the same from anywhere in
the thread that runs the call, for code that is not handed the context.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .config import Config

__all__ = ["Context", "deadline", "current"]


class Context:
    """One call, as its handler sees it. Made by the SDK; read-only by convention."""

    __slots__ = ("contract", "type", "method", "deadline", "config", "content_type")

    def __init__(
        self,
        contract: str,
        type: str,
        method: str,
        deadline: float | None,
        config: Config,
        content_type: str = "",
    ) -> None:
        #: The contract's wire name, e.g. ``"dataProcessor"``.
        self.contract = contract
        #: The type's name, e.g. ``"csv-to-json"``.
        self.type = type
        #: The method's wire name, e.g. ``"processData"``.
        self.method = method
        #: When the caller stops waiting, on the :func:`time.monotonic` clock; None if it sent no deadline.
        self.deadline = deadline
        #: The launch configuration (plugin id, idle timeout, config-type data).
        self.config = config
        #: The request's ``Content-Type`` header ("" if none); it matters only for contracts v1 does not define.
        self.content_type = content_type

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once it passed), or None without one."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def expired(self) -> bool:
        """True once the caller's deadline has passed: the answer is no longer awaited."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def data(self, name: str, default: Any = None) -> Any:
        """The data of config type ``name`` (shorthand for ``ctx.config.data(name)``)."""
        return self.config.data(name, default)

    def __repr__(self) -> str:
        return f"Context({self.contract}/{self.type} {self.method}, deadline={self.deadline})"


#: The call this thread runs: the server sets ``_local.context`` around each
#: handler (an attribute store rather than a function: it runs twice a call).
_local = threading.local()


def current() -> Context | None:
    """The context of the call this thread is running, or None outside a call."""
    return getattr(_local, "context", None)


def deadline() -> float | None:
    """The deadline (:func:`time.monotonic` seconds) of the call this thread is
    running; None outside a call or when the caller sent no deadline."""
    context = getattr(_local, "context", None)
    return None if context is None else context.deadline
