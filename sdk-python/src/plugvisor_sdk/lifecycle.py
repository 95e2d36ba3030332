"""What ends a plugin process, and the accounting that makes the end safe.

:class:`Admission` keeps, under one lock, the in-flight counter, the
last-activity timestamp and the ``draining`` flag (docs/protocol.md, 14.2):
every call is either admitted before the shutdown decision, and the plugin
stays up until it has answered, or refused with ``503`` after it.

:class:`Watcher` runs in the main thread after the handshake. It waits, in one
``select``, for SIGTERM/SIGINT (through :func:`signal.set_wakeup_fd`), for end
of file on stdin, and for a wake-up from another thread (``POST /shutdown``);
between events it ticks (a tenth of the idle timeout, 10 ms to 1 s) and asks
:class:`Admission` whether the plugin has been idle long enough.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from typing import Callable

__all__ = ["Admission", "Watcher", "tick_seconds"]


class Admission:
    """The in-flight calls, the last activity and the shutdown decision.

    Thread-safe. ``on_shutdown(reason)`` runs once, in the thread that made
    the decision, right after it (outside the lock): it removes the socket
    file and wakes the :class:`Watcher`.
    """

    def __init__(self, on_shutdown: Callable[[str], None]) -> None:
        # admit() and finish() run on every call: they take the bare lock (a
        # C-level context manager) and notify only when a drain waits.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._drain_waiters = 0
        self._on_shutdown = on_shutdown
        self.draining = False
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.reason = ""

    def admit(self) -> bool:
        """Admits a call (the plugin is not idle while it runs), or returns
        False once the shutdown has been decided: the caller then answers ``503``."""
        with self._lock:
            if self.draining:
                return False
            self.in_flight += 1
            # No timestamp here: while a call is in flight the plugin is not
            # idle, and finish() records its end.
            return True

    def restart_clock(self) -> None:
        """Counts now as the last activity: the idle timeout runs from the
        handshake, not from the start of the process."""
        with self._cond:
            self.last_activity = time.monotonic()

    def hold(self) -> None:
        """Counts a response that must be written before the process exits,
        even once draining (the ``202`` of ``/shutdown``); end it with
        :meth:`finish`."""
        with self._cond:
            self.in_flight += 1

    def finish(self) -> None:
        """Ends an admitted call, once its response has been written (or the
        client has gone); counts as activity."""
        with self._lock:
            self.in_flight -= 1
            self.last_activity = time.monotonic()
            if self.in_flight == 0 and self._drain_waiters:
                self._cond.notify_all()

    def begin_shutdown(self, reason: str) -> bool:
        """Decides to shut down; returns False (and does nothing) if a shutdown
        was already decided."""
        with self._cond:
            if self.draining:
                return False
            self.draining = True
            self.reason = reason
        self._on_shutdown(reason)
        return True

    def shutdown_if_idle(self, idle_timeout: float) -> bool:
        """Decides to shut down if no call is in flight and none started or
        ended within ``idle_timeout`` seconds; the check and the decision
        are one critical section. Returns whether it decided."""
        with self._cond:
            if self.draining or self.in_flight > 0 or time.monotonic() - self.last_activity < idle_timeout:
                return False
            self.draining = True
            self.reason = f"idle for {_format_seconds(idle_timeout)}"
            reason = self.reason
        self._on_shutdown(reason)
        return True

    def wait_drained(self, grace: float) -> int:
        """Waits up to ``grace`` seconds for the admitted calls to be answered;
        returns how many are still running (0: all answered)."""
        end = time.monotonic() + grace
        with self._cond:
            self._drain_waiters += 1
            try:
                while self.in_flight > 0:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            finally:
                self._drain_waiters -= 1
            return self.in_flight


def _format_seconds(seconds: float) -> str:
    ms = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def tick_seconds(idle_timeout: float) -> float | None:
    """How often the idle check runs: ten times per timeout, at least every
    second and at most every 10 ms; None (no ticking) without a timeout."""
    if idle_timeout <= 0:
        return None
    return min(max(idle_timeout / 10.0, 0.010), 1.0)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Watcher:
    """Watches signals, stdin and the idle timer from the main thread.

    Construct it in the main thread before the socket is claimed (it takes
    over SIGTERM and SIGINT, so that a signal cannot kill the plugin between
    the lock and the cleanup); :meth:`run` until the shutdown is decided;
    :meth:`close` restores the signal handlers. :meth:`wake` may be called
    from any thread.
    """

    def __init__(self, admission: Admission, idle_timeout: float, stdin_fd: int = 0) -> None:
        self._admission = admission
        self._idle_timeout = idle_timeout
        self._stdin_fd: int | None = stdin_fd
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._previous_handlers = {sig: signal.signal(sig, _ignore_signal) for sig in _SIGNALS}
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

    def wake(self) -> None:
        """Wakes :meth:`run` so that it sees a shutdown decided elsewhere."""
        try:
            self._wake_w.send(b"\0")
        except (OSError, AttributeError):
            pass  # the buffer is full (a wake-up is pending anyway) or closed

    def run(self) -> str:
        """Blocks until the shutdown is decided; returns its reason."""
        tick = tick_seconds(self._idle_timeout)
        admission = self._admission
        while not admission.draining:
            watched = [self._wake_r] if self._stdin_fd is None else [self._wake_r, self._stdin_fd]
            try:
                readable, _, _ = select.select(watched, [], [], tick)
            except (OSError, ValueError):
                readable = [self._stdin_fd]  # stdin is not a valid descriptor: treat as closed
            if self._wake_r in readable:
                self._read_wakeups()
            if self._stdin_fd is not None and self._stdin_fd in readable:
                self._read_stdin()
            if self._idle_timeout > 0:
                admission.shutdown_if_idle(self._idle_timeout)
        return admission.reason

    def _read_wakeups(self) -> None:
        try:
            data = self._wake_r.recv(256)
        except OSError:
            return
        for signum in data:
            if signum:
                admission_reason = f"received {signal.Signals(signum).name}"
                self._admission.begin_shutdown(admission_reason)

    def _read_stdin(self) -> None:
        # Bytes after the configuration line mean nothing; only the end matters.
        try:
            data = os.read(self._stdin_fd, 65536)  # type: ignore[arg-type]
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._stdin_fd = None
            self._admission.begin_shutdown("stdin closed (the manager is gone)")

    def close(self) -> None:
        """Restores the signal handlers and the wake-up descriptor. Safe to call twice."""
        if self._wake_w is None:
            return
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._wake_r.close()
        self._wake_w.close()
        self._wake_w = None  # type: ignore[assignment]


def _ignore_signal(signum: int, frame: object) -> None:
    """The Python-level handler: the byte set_wakeup_fd writes does the work."""
