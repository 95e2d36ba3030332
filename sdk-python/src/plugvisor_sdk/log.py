"""Structured log lines on stderr (docs/protocol.md, section 7).

Each call writes one line ``{"level": ..., "msg": ...}`` that the manager
logs under the plugin id at that level. Thread-safe; never raises into the
caller. For code that uses the standard :mod:`logging` module, install
:class:`JsonLogHandler`::

    logging.getLogger().addHandler(plugvisor_sdk.log.JsonLogHandler())
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

__all__ = ["log", "debug", "info", "warn", "error", "JsonLogHandler"]

_lock = threading.Lock()


def log(level: str, msg: str) -> None:
    """Writes ``msg`` as one JSON log line at ``level`` (``trace``, ``debug``,
    ``info``, ``warn``, ``error`` or ``critical``) to stderr and flushes it."""
    line = json.dumps({"level": level, "msg": str(msg)}, separators=(",", ":"), ensure_ascii=False) + "\n"
    with _lock:
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr closed: there is nobody to tell


def debug(msg: str) -> None:
    """Logs ``msg`` at ``debug``."""
    log("debug", msg)


def info(msg: str) -> None:
    """Logs ``msg`` at ``info``."""
    log("info", msg)


def warn(msg: str) -> None:
    """Logs ``msg`` at ``warn``."""
    log("warn", msg)


def error(msg: str) -> None:
    """Logs ``msg`` at ``error``."""
    log("error", msg)


def _level_name(levelno: int) -> str:
    if levelno >= 50:  # logging.CRITICAL
        return "critical"
    if levelno >= 40:  # logging.ERROR
        return "error"
    if levelno >= 30:  # logging.WARNING
        return "warn"
    if levelno >= 20:  # logging.INFO
        return "info"
    return "debug"


def _make_handler_class() -> type:
    import logging  # only for plugins that use it: it costs a few ms at start-up

    class JsonLogHandler(logging.Handler):
        """A :mod:`logging` handler that writes each record as a JSON log line
        the manager understands (the formatted message, at the record's level)."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                log(_level_name(record.levelno), self.format(record))
            except Exception:  # logging must never fail the caller
                self.handleError(record)

    JsonLogHandler.__module__ = __name__
    return JsonLogHandler


def __getattr__(name: str) -> Any:
    # JsonLogHandler is made on first use, so that importing this module does
    # not import logging.
    if name == "JsonLogHandler":
        cls = _make_handler_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
