"""plugvisor_sdk: write plugvisor plugins in Python (standard library only).

A plugin is an executable that serves protocol v1 (docs/protocol.md) over a
Unix socket or loopback TCP. With this package, a plugin is a few lines::

    from plugvisor_sdk import Plugin

    plugin = Plugin(name="py-stats", version="1.0.0", description="Statistics on text")

    @plugin.data_processor("upper", formats=["text/plain"])
    def upper(data: bytes, ctx) -> bytes:
        return data.upper()

    if __name__ == "__main__":
        raise SystemExit(plugin.run())

Class layout (one module per concern)::

    plugin.Plugin                 declarations (data_processor, handler, provide,
      │                           describe, config_type, on_start), capabilities(), run()
      ├── config.LaunchConfig     the parsed --config line ──► config.Config (what handlers see)
      ├── lock.SocketLock         <socket>.lock: claim, stale cleanup, release
      ├── server.UnixServer       ThreadingMixIn + UnixStreamServer ┐ PluginServerMixin:
      ├── server.TcpServer        ThreadingMixIn + TCPServer        ┘ accept loop, stop()
      │     └── server.RequestHandler   (BaseHTTPRequestHandler) per connection:
      │           framing, auth, dispatch to server.BoundMethod, error bodies
      ├── lifecycle.Admission     in-flight counter, last activity, draining flag (one lock)
      └── lifecycle.Watcher       main thread: signals, stdin EOF, idle ticker
    contracts.Contract/Method/Kind  contracts (pluginBase, dataProcessor, your own) and
                                  their descriptions (to_description, from_description)
    contracts.DataProcessor       base class for class-based dataProcessor types
    context.Context               per call: names, deadline, config; context.deadline()
    errors.PluginError/ErrorCode  raise to answer an error code
    log                           JSON log lines on stderr

Threads: the main thread runs :class:`~plugvisor_sdk.lifecycle.Watcher`; one
daemon thread accepts connections; each connection has a daemon thread that
serves its requests one after the other (kept alive, no request limit).
Handlers therefore run concurrently and must be thread-safe.
"""

from . import log
from .config import Config, ConfigError, LaunchConfig, parse_duration, parse_launch_config
from .context import Context, current, deadline
from .contracts import (
    DATA_PROCESSOR,
    KNOWN_CONTRACTS,
    MAX_VERSION,
    PLUGIN_BASE,
    Contract,
    DataProcessor,
    Kind,
    Method,
    find_contract,
    is_valid_name,
)
from .errors import ErrorCode, InvalidInput, PluginError
from .plugin import EXIT_ABANDONED, EXIT_BIND, EXIT_OK, EXIT_USAGE, Plugin

__version__ = "1.0.0"

__all__ = [
    "Plugin",
    "DataProcessor",
    "Context",
    "Config",
    "LaunchConfig",
    "ConfigError",
    "PluginError",
    "InvalidInput",
    "ErrorCode",
    "Kind",
    "Method",
    "Contract",
    "PLUGIN_BASE",
    "DATA_PROCESSOR",
    "KNOWN_CONTRACTS",
    "find_contract",
    "is_valid_name",
    "MAX_VERSION",
    "deadline",
    "current",
    "parse_duration",
    "parse_launch_config",
    "log",
    "EXIT_OK",
    "EXIT_ABANDONED",
    "EXIT_USAGE",
    "EXIT_BIND",
]
