"""The lock file that guards a Unix socket path (docs/protocol.md, section 15).

``<socket>.lock`` holds the owner's pid in decimal and ``\\n``. It is written
to a private temporary file first and ``link()``-ed into place, so that it
never exists without its pid, and ``link`` fails when the lock is taken.
A lock whose pid is alive refuses the launch (exit code 3, both files left
alone); a lock whose pid is dead, empty or unreadable is stale and is
removed, once. Only a socket is ever removed at the socket path: a regular
file, a directory or a symbolic link there refuses the launch (exit code 3)
and is left as it was (docs/protocol.md, section 15, step 5).
"""

from __future__ import annotations

import os
import stat

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


def _remove_if_socket(path: str) -> bool:
    """Removes ``path`` if it is a socket (not following a symbolic link);
    False, touching nothing, if something else is there."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True  # nothing there
    if not stat.S_ISSOCK(mode):
        return False
    _unlink_quietly(path)
    return True


def _file_kind(path: str) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "a file"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a file that is not a socket"


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
                    # Stale: the owner died without cleaning up. Remove the lock and
                    # retry once; the socket path is cleared below, once the lock is ours.
                    _unlink_quietly(self.lock_path)
                except OSError as e:
                    failure = e
                    break
        finally:
            _unlink_quietly(temp)
        if not self.held:
            reason = failure.strerror if failure is not None else "unknown error"
            raise LockError(f"cannot claim lock file {self.lock_path}: {reason}")
        # A socket file without a live lock is stale: clear it so that bind
        # succeeds. Anything else there is not ours to delete: refuse (exit 3).
        if not _remove_if_socket(socket_path):
            kind = _file_kind(socket_path)
            _unlink_quietly(self.lock_path)
            self.held = False
            raise LockError(
                f"cannot bind {socket_path}: it exists and is {kind}, not a socket; the plugin only replaces "
                "a stale socket and leaves other files alone: move it away or choose another address"
            )

    def unlink_socket(self) -> None:
        """Removes the socket file (the shutdown's first step); keeps the lock."""
        if self.held:
            try:
                _remove_if_socket(self.socket_path)
            except OSError:
                pass

    def release(self) -> None:
        """Removes the socket file and then the lock file. Safe to call twice."""
        if not self.held:
            return
        self.held = False
        try:
            _remove_if_socket(self.socket_path)
            _unlink_quietly(self.lock_path)
        except OSError:
            pass
