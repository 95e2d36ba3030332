"""The lock file that guards a Unix socket path (docs/protocol.md, section 15).

``<socket>.lock`` holds the owner's pid in decimal and ``\\n``. It is written
to a private temporary file first and ``link()``-ed into place, so that it
never exists without its pid, and ``link`` fails when the lock is taken.
A lock whose pid is alive refuses the launch (exit code 3, both files left
alone); a lock whose pid is dead, empty or unreadable is stale and is
removed together with the socket file, once.
"""

from __future__ import annotations

import os

from .config import ConfigError

__all__ = ["SocketLock", "LockError", "MAX_SOCKET_PATH"]

#: The longest Unix socket path in bytes (sun_path holds 108 with the terminator).
MAX_SOCKET_PATH = 107


class LockError(Exception):
    """The socket path is held by a live plugin, or the lock cannot be
    created; the plugin exits with code 3."""


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # it exists, owned by someone else
    except OSError:
        return False
    return True


def _read_pid(path: str) -> int:
    try:
        with open(path, "rb") as f:
            text = f.read(64).strip()
        return int(text) if text.isdigit() else 0
    except (OSError, ValueError):
        return 0


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class SocketLock:
    """Holds ``<socket_path>.lock`` for this process. Claimed by the
    constructor; :meth:`release` removes the socket file and the lock (safe
    to call twice). Used from one thread at a time."""

    def __init__(self, socket_path: str) -> None:
        """Claims the lock, removing a stale one and any socket file left at
        ``socket_path``. Raises :class:`ConfigError` if the path is too long
        for a Unix socket (before creating any file), :class:`LockError` if a
        live process holds it or the lock file cannot be created."""
        self.socket_path = socket_path
        self.lock_path = socket_path + ".lock"
        self.held = False
        size = len(os.fsencode(socket_path))
        if size > MAX_SOCKET_PATH:
            raise ConfigError(
                f"socket path is {size} bytes, over the {MAX_SOCKET_PATH}-byte limit of Unix sockets: "
                f"use a shorter directory: {socket_path}"
            )
        pid = os.getpid()
        temp = f"{self.lock_path}.{pid}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, f"{pid}\n".encode())
            finally:
                os.close(fd)
        except OSError as e:
            _unlink_quietly(temp)
            raise LockError(
                f"cannot write lock file {temp}: {e.strerror}: check that the socket directory exists and is writable"
            ) from None

        failure: OSError | None = None
        try:
            for _attempt in range(2):
                try:
                    os.link(temp, self.lock_path)
                    self.held = True
                    break
                except FileExistsError as e:
                    failure = e
                    owner = _read_pid(self.lock_path)
                    if owner != pid and _process_alive(owner):
                        raise LockError(
                            f"socket {socket_path} is in use by live process {owner} (lock file {self.lock_path})",
                        ) from None
                    # Stale: the owner died without cleaning up. Remove both and retry once.
                    _unlink_quietly(socket_path)
                    _unlink_quietly(self.lock_path)
                except OSError as e:
                    failure = e
                    break
        finally:
            _unlink_quietly(temp)
        if not self.held:
            reason = failure.strerror if failure is not None else "unknown error"
            raise LockError(f"cannot claim lock file {self.lock_path}: {reason}")
        # A socket file without a live lock is stale: clear it so that bind succeeds.
        _unlink_quietly(socket_path)

    def unlink_socket(self) -> None:
        """Removes the socket file (the shutdown's first step); keeps the lock."""
        if self.held:
            try:
                _unlink_quietly(self.socket_path)
            except OSError:
                pass

    def release(self) -> None:
        """Removes the socket file and then the lock file. Safe to call twice."""
        if not self.held:
            return
        self.held = False
        for path in (self.socket_path, self.lock_path):
            try:
                _unlink_quietly(path)
            except OSError:
                pass
