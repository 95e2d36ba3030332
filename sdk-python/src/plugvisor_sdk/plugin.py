"""The :class:`Plugin`: what a plugin declares, and ``run()``, which does the rest.

A plugin module builds one :class:`Plugin`, declares its types with the
decorators, and calls :meth:`Plugin.run` from ``__main__``. ``run()``
implements protocol v1 (docs/protocol.md): ``capabilities``, ``--config``,
the socket and its lock file, the handshake line, ``/healthz``, bearer auth,
dispatch, the error body, ``/shutdown``, SIGTERM/SIGINT, stdin EOF, the idle
timer, the drain, and cleanup on every exit path it controls.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence, TypeVar

from . import log
from .config import Config, ConfigError, LaunchConfig, parse_launch_config
from .context import Context
from .contracts import DATA_PROCESSOR, KNOWN_CONTRACTS, Contract, Kind, _schema_problem, is_valid_name
from .lifecycle import Admission, Watcher
from .lock import LockError, SocketLock
from .server import BoundMethod, Service, TcpServer, UnixServer

__all__ = ["Plugin", "EXIT_OK", "EXIT_ABANDONED", "EXIT_USAGE", "EXIT_BIND"]

#: A normal end (asked, signalled, stdin closed, idle), or after ``capabilities``.
EXIT_OK = 0
#: Shut down, but calls were still running when the grace ended.
EXIT_ABANDONED = 1
#: Bad usage or configuration (before the handshake only).
EXIT_USAGE = 2
#: The address cannot be bound, or the socket is held by a live plugin (before the handshake only).
EXIT_BIND = 3

#: The longest configuration line accepted on stdin.
MAX_CONFIG_LINE = 16 * 1024 * 1024

T = TypeVar("T")
Factory = Callable[[Config], dict[str, BoundMethod]]


def _positional_capacity(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts (99 with ``*args``); None if unknown."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _adapt(fn: Callable[..., Any], has_input: bool, what: str) -> Callable[[Any, Context], Any]:
    """Makes ``fn`` callable as ``(value, ctx)``: handlers may leave out the
    context (``f(data)``, ``f()``) or take it (``f(data, ctx)``, ``f(ctx)``)."""
    if not callable(fn):
        raise TypeError(f"{what}: {fn!r} is not callable")
    capacity = _positional_capacity(fn)
    if has_input:
        if capacity is None or capacity >= 2:
            return fn
        if capacity == 1:
            return lambda value, ctx: fn(value)
        raise TypeError(f"{what}: {fn.__qualname__} must take the input (and may take the context as a second argument)")
    if capacity is None or capacity >= 1:
        return lambda value, ctx: fn(ctx)
    return lambda value, ctx: fn()


def _check_name(kind: str, name: object) -> str:
    if not is_valid_name(name):
        raise ValueError(f"{kind} name {name!r} is not a valid name: 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit")
    return name  # type: ignore[return-value]


def _check_schema(json_schema: object, what: str = "") -> Any:
    if json_schema is None:
        return None
    prefix = f"{what}: " if what else ""
    if not isinstance(json_schema, (dict, bool)):
        raise TypeError(f"{prefix}json_schema must be a JSON Schema as a dict (or a bool), not {type(json_schema).__name__}")
    problem = _schema_problem(json_schema)  # fails now rather than in the manager
    if problem:
        raise ValueError(f"{prefix}json_schema is not a valid JSON Schema: {problem}")
    return json_schema


def _check_formats(formats: Iterable[str]) -> list[str]:
    if isinstance(formats, (str, bytes)) or not all(isinstance(f, str) for f in formats):
        raise TypeError('formats must be a list of strings, e.g. ["text/csv"]')
    return list(formats)


def _constant(value: Any) -> Callable[[Any, Context], Any]:
    return lambda _value, _ctx: list(value) if isinstance(value, list) else value


_PING = BoundMethod(Kind.NONE, Kind.NONE, lambda _value, _ctx: None)


@dataclass
class _TypeEntry:
    """One declared type: what ``capabilities`` lists and how to build its methods."""

    contract: str
    type: str
    description: str | None = None
    json_schema: Any = None
    #: method name -> (method, declared explicitly by the author)
    methods: dict[str, tuple[BoundMethod, bool]] = field(default_factory=dict)
    #: for class-based types: builds the methods once the configuration is known
    factory: Factory | None = None

    def describe(self, description: str | None, json_schema: Any) -> None:
        if description is not None:
            if self.description is not None and self.description != description:
                raise ValueError(f"{self.contract} type '{self.type}' already has a different description")
            self.description = description
        if json_schema is not None:
            if self.json_schema is not None and self.json_schema != json_schema:
                raise ValueError(f"{self.contract} type '{self.type}' already has a different json_schema")
            self.json_schema = json_schema

    def build(self, config: Config) -> dict[str, BoundMethod]:
        methods = self.factory(config) if self.factory else {name: m for name, (m, _) in self.methods.items()}
        methods.setdefault("ping", _PING)
        return methods


class Plugin:
    """A plugin process. Build it, declare what it provides, then :meth:`run`
    it once from ``__main__``::

        plugin = Plugin(name="py-stats", version="1.0.0", description="Statistics")

        @plugin.data_processor("upper", formats=["text/plain"])
        def upper(data: bytes, ctx: Context) -> bytes:
            return data.upper()

        if __name__ == "__main__":
            raise SystemExit(plugin.run())

    Declarations are not thread-safe and belong before :meth:`run`; a
    declaration error (a bad name, a type declared twice) raises at once.
    """

    #: Seconds in-flight calls get to finish once a shutdown begins (the
    #: protocol's 5 s; lower it only in tests).
    drain_grace: float = 5.0
    #: Connections served at once (each holds a thread), at least 1; the C++
    #: SDK's ``max_connections``. At the cap a newcomer replaces the connection
    #: that has waited longest for a request head without ever carrying an
    #: authorised request; when there is none, it waits in the listen backlog
    #: (docs/protocol.md, section 12).
    max_connections: int = 1024

    def __init__(self, name: str, version: str, description: str | None = None) -> None:
        """``name`` and ``version`` are free-form and shown in listings; the
        plugin id is the executable's file name."""
        if not isinstance(name, str) or not isinstance(version, str):
            raise TypeError("name and version must be strings")
        if description is not None and not isinstance(description, str):
            raise TypeError("description must be a string")
        self.name = name
        self.version = version
        self.description = description
        self._types: dict[tuple[str, str], _TypeEntry] = {}
        self._contracts: dict[str, Contract] = dict(KNOWN_CONTRACTS)
        self._config_types: list[str] = []
        self._config_schemas: dict[str, Any] = {}
        self._on_start: list[Callable[[Config], None]] = []

    # -- declarations ---------------------------------------------------------

    def config_type(self, name: str, json_schema: Any = None) -> "Plugin":
        """Declares a config type: the manager hands this plugin its data (if
        the host has any) at launch; read it with ``ctx.data(name)`` or
        ``config.data(name)``. ``json_schema`` (a dict or a bool), if given,
        is published under ``configSchemas``. Declaring it again is safe;
        with a different schema it raises ValueError. Returns the plugin,
        for chaining."""
        _check_name("config type", name)
        schema = _check_schema(json_schema, f"config type {name}")
        if schema is not None:
            known = self._config_schemas.get(name)
            if known is not None and known != schema:
                raise ValueError(f"config type {name} is already declared with a different json_schema")
            self._config_schemas[name] = schema
        if name not in self._config_types:
            self._config_types.append(name)
        return self

    def describe(self, contract: Contract) -> "Plugin":
        """Makes ``contract`` known to this plugin: its types (served with
        :meth:`handler`, before or after this call) take their kinds from it,
        and ``capabilities`` publishes its description under ``contracts``
        when the plugin provides a type of it. Contracts passed as
        :class:`Contract` objects to :meth:`handler` or :meth:`provide`, and
        the built-in ones, are known without it. Describing a contract again
        is safe; differently (another version, method, schema or
        description) raises ValueError. Returns the plugin, for chaining."""
        if not isinstance(contract, Contract):
            raise TypeError(f"describe() takes a Contract, not {type(contract).__name__}")
        self._contract(contract)
        return self

    def on_start(self, fn: Callable[[Config], None]) -> Callable[[Config], None]:
        """Decorator: ``fn(config)`` runs once the launch configuration is
        known, before the socket is bound (e.g. to check config-type data).
        If it raises, the plugin exits with code 2 and the reason on stderr."""
        self._on_start.append(fn)
        return fn

    def _contract(self, contract: Contract | str) -> tuple[str, Contract | None]:
        if isinstance(contract, Contract):
            known = self._contracts.get(contract.name)
            if known is not None and known != contract:
                raise ValueError(
                    f"contract {contract.name} is already declared differently: "
                    f"{json.dumps(known.to_description(), sort_keys=True)} before, "
                    f"{json.dumps(contract.to_description(), sort_keys=True)} now (declare it once, e.g. as a module constant)"
                )
            if known is None:
                self._fix_kinds(contract)
            self._contracts[contract.name] = contract
            return contract.name, contract
        _check_name("contract", contract)
        return contract, self._contracts.get(contract)

    def _fix_kinds(self, contract: Contract) -> None:
        """Handlers declared before ``contract`` was known take its kinds."""
        for entry in self._types.values():
            if entry.contract != contract.name:
                continue
            for name, (bound, _) in entry.methods.items():
                spec = contract.method(name)
                if spec is None:
                    raise ValueError(f"{contract.name} type '{entry.type}' serves '{name}', which contract "
                                     f"{contract.name} does not have; it has: {', '.join(contract.methods)}")
                if (bound.input not in (None, spec.input)) or (bound.output not in (None, spec.output)):
                    raise ValueError(f"{contract.name} type '{entry.type}' serves '{name}' with kinds that contradict "
                                     f"the contract, whose '{name}' takes {spec.input} and returns {spec.output}")
        for entry in self._types.values():
            if entry.contract == contract.name:
                for name, (bound, _) in entry.methods.items():
                    spec = contract.methods[name]
                    bound.input, bound.output = spec.input, spec.output

    def _entry(self, contract: str, type: str) -> _TypeEntry:
        _check_name("type", type)
        key = (contract, type)
        if key not in self._types:
            self._types[key] = _TypeEntry(contract, type)
        return self._types[key]

    def handler(
        self,
        contract: Contract | str,
        type: str,
        method: str,
        *,
        input: Kind | str | None = None,
        output: Kind | str | None = None,
        description: str | None = None,
        json_schema: Any = None,
    ) -> Callable[[T], T]:
        """Decorator: the function serves ``method`` of ``contract`` type ``type``.

        The function takes the input and, optionally, the :class:`Context`
        (``f(value, ctx)``); a method without input takes only the context,
        or nothing. For a contract the plugin knows (built-in, passed as a
        :class:`Contract`, or given to :meth:`describe`, even later) the kinds
        come from its table. For an undeclared
        contract, ``input`` defaults to "as the request's Content-Type says"
        (octet-stream: bytes, anything else: JSON) and ``output`` to "by the
        value" (bytes-like: octet-stream, anything else: JSON); pass
        ``Kind.NONE`` / ``Kind.BYTES`` / ``Kind.JSON`` to fix them. ``ping``
        is answered by itself unless declared.
        """
        contract_name, table = self._contract(contract)
        _check_name("method", method)
        in_kind = Kind(input) if input is not None else None
        out_kind = Kind(output) if output is not None else None
        if table is not None:
            spec = table.method(method)
            if spec is None:
                raise ValueError(f"contract {contract_name} has no method '{method}'; it has: {', '.join(table.methods)}")
            if (in_kind is not None and in_kind != spec.input) or (out_kind is not None and out_kind != spec.output):
                raise ValueError(f"{contract_name}.{method} takes {spec.input} and returns {spec.output}")
            in_kind, out_kind = spec.input, spec.output
        schema = _check_schema(json_schema)

        def register(fn: T) -> T:
            entry = self._entry(contract_name, type)
            if entry.factory is not None:
                raise ValueError(f"{contract_name} type '{type}' is provided by an object; add '{method}' to it instead")
            if entry.methods.get(method, (None, False))[1]:
                raise ValueError(f"{contract_name} type '{type}' already has a handler for '{method}'")
            what = f"{contract_name}/{type} {method}"
            bound = BoundMethod(in_kind, out_kind, _adapt(fn, in_kind is not Kind.NONE, what))  # type: ignore[arg-type]
            entry.describe(description, schema)
            entry.methods[method] = (bound, True)
            return fn

        return register

    def data_processor(
        self,
        type: str,
        *,
        formats: Sequence[str] = (),
        description: str | None = None,
        json_schema: Any = None,
    ) -> Callable[[T], T]:
        """Decorator: a ``dataProcessor`` type.

        On a function ``f(data: bytes, ctx) -> bytes`` (``ctx`` optional):
        ``processData`` calls it, ``supportedFormats`` answers ``formats``,
        ``ping`` answers ``{}``. On a :class:`~plugvisor_sdk.contracts.DataProcessor`
        subclass: same as :meth:`provide`. The decorated object is returned
        unchanged.
        """
        wanted = _check_formats(formats)
        _check_name("type", type)
        _check_schema(json_schema)

        def register(obj: T) -> T:
            if isinstance(obj, type_):
                if wanted:
                    raise TypeError("for a class, set its `formats` attribute instead of passing formats=")
                self.provide(type, obj, description=description, json_schema=json_schema)
                return obj
            self.handler(DATA_PROCESSOR, type, "processData", description=description, json_schema=json_schema)(obj)
            entry = self._types[(DATA_PROCESSOR.name, type)]
            entry.methods.setdefault("supportedFormats", (BoundMethod(Kind.NONE, Kind.JSON, _constant(wanted)), False))
            return obj

        return register

    def provide(
        self,
        type: str,
        impl: Any,
        *,
        contract: Contract | str = DATA_PROCESSOR,
        description: str | None = None,
        json_schema: Any = None,
    ) -> "Plugin":
        """Provides ``type`` of ``contract`` (default ``dataProcessor``) with an object.

        ``impl`` is a class, made once per launch as ``impl(config)`` (or
        ``impl()`` if its constructor takes no argument); or a ready object;
        or a factory ``f(config)`` returning one. The object has one method
        per contract method, named in snake case (``process_data(data, ctx)``,
        ``supported_formats(ctx)``; ``ping(ctx)`` is optional). A constructor
        or factory that raises ends the launch with exit code 2. Any known
        contract works the same way (``contract=GREETER``: ``setMood`` is
        ``set_mood(mood, ctx)``); JSON inputs arrive parsed and results are
        encoded by the method's kinds. A method other than ``ping`` that the
        object lacks raises TypeError here, naming it. Returns the plugin,
        for chaining.
        """
        contract_name, table = self._contract(contract)
        if table is None:
            raise ValueError(
                f"contract {contract_name} is not known: declare it with Contract(...) to provide an object, "
                "or serve its methods with @plugin.handler"
            )
        schema = _check_schema(json_schema)
        needed = [m for m in table.methods.values() if m.name != "ping"]
        label = f"{contract_name} type '{type}'"

        def missing(obj: object) -> list[str]:
            from .contracts import DataProcessor

            names = []
            for m in needed:
                attr = getattr(obj, m.attr, None)
                base = getattr(DataProcessor, m.attr, None)
                func = getattr(attr, "__func__", attr)
                if attr is None or (m.attr == "process_data" and func is base):
                    names.append(m.attr if m.attr == m.name else f"{m.attr} (method {m.name})")
            return names

        if isinstance(impl, type_):
            make: Callable[[Config], Any]
            if missing(impl):
                raise TypeError(f"{impl.__qualname__} must define {', '.join(missing(impl))} for {label}")
            make = (lambda config: impl(config)) if _positional_capacity(impl) != 0 else (lambda config: impl())
        elif not missing(impl):
            make = lambda config: impl  # noqa: E731 - a ready object
        elif callable(impl):
            make = impl
        else:
            raise TypeError(f"{impl!r} is neither a class, an object with {', '.join(missing(impl))}, nor a factory")

        def factory(config: Config) -> dict[str, BoundMethod]:
            obj = make(config)
            if missing(obj):
                raise TypeError(f"the object made for {label} lacks {', '.join(missing(obj))}")
            return _bind_object(obj, table, contract_name, type)

        entry = self._entry(contract_name, type)
        if entry.methods or entry.factory:
            raise ValueError(f"{label} is already declared")
        entry.describe(description, schema)
        entry.factory = factory
        return self

    # -- capabilities and run -------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """The ``capabilities`` document (docs/protocol.md, section 4.2), with
        ``configSchemas`` (when a config type has a schema) and ``contracts``:
        the description of every contract the plugin provides a type of and
        knows (built-in, passed as a :class:`Contract`, or given to :meth:`describe`)."""
        types: dict[str, list[dict[str, Any]]] = {}
        for entry in self._types.values():
            item: dict[str, Any] = {"type": entry.type}
            if entry.description is not None:
                item["description"] = entry.description
            if entry.json_schema is not None:
                item["jsonSchema"] = entry.json_schema
            types.setdefault(entry.contract, []).append(item)
        doc: dict[str, Any] = {
            "protocolVersion": 1,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "types": types,
            "configTypes": list(self._config_types),
            "transports": ["unix", "tcp"],  # run() serves both (docs/protocol.md 4.2)
        }
        if self._config_schemas:
            doc["configSchemas"] = {name: schema for name, schema in self._config_schemas.items()}
        contracts = {name: self._contracts[name].to_description() for name in types if name in self._contracts}
        if contracts:
            doc["contracts"] = contracts
        return doc

    def run(self, argv: Sequence[str] | None = None) -> int:
        """Runs the plugin as protocol v1 says and returns the exit code (pass
        it to ``SystemExit``): 0 after a normal shutdown (asked, signalled,
        stdin closed or idle) or ``capabilities``; 1 if calls were abandoned
        after the grace; 2 for bad usage or configuration; 3 if the address
        cannot be bound. ``argv`` defaults to ``sys.argv[1:]``. Call it once,
        from the main thread: it installs SIGTERM/SIGINT handlers."""
        args = list(sys.argv[1:] if argv is None else argv)
        if args == ["capabilities"]:
            sys.stdout.write(json.dumps(self.capabilities(), separators=(",", ":"), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return EXIT_OK
        if args in (["--help"], ["-h"]):
            self._usage()
            return EXIT_OK
        if len(args) != 2 or args[0] != "--config":
            if not args and os.environ.get("PLUGVISOR_PROTOCOL") is None:
                self._usage()
            else:
                prog = self._prog()
                sys.stderr.write(f"{prog}: unexpected arguments {' '.join(args)!r}; see {prog} --help\n")
            return EXIT_USAGE

        real_stdout = sys.stdout
        sys.stdout = sys.stderr  # nothing but the handshake may reach stdout before it
        try:
            try:
                text: str | bytes = args[1]
                if text == "-":
                    line = _read_config_line()
                    if line is None:
                        raise ConfigError(
                            "--config -: expected one JSON line (under 16 MiB) on stdin, got end of input or a longer line"
                        )
                    text = line
                launch = parse_launch_config(text)
                port = _tcp_port(launch.address) if launch.transport == "tcp" else 0
                for hook in self._on_start:
                    hook(launch.config)
                types = {f"{e.contract}/{e.type}": e.build(launch.config) for e in self._types.values()}
            except ConfigError as e:
                return _fail(EXIT_USAGE, str(e))
            except Exception as e:
                return _fail(EXIT_USAGE, f"cannot set the plugin up from its launch configuration: {type(e).__name__}: {e}")
            return self._serve(launch, port, types, real_stdout)
        finally:
            if sys.stdout is sys.stderr:
                sys.stdout = real_stdout

    def _serve(self, launch: LaunchConfig, port: int, types: dict[str, dict[str, BoundMethod]], stdout: Any) -> int:
        lock: SocketLock | None = None
        server: UnixServer | TcpServer | None = None

        def on_shutdown(reason: str) -> None:
            log.info(f"shutting down: {reason}")
            if lock is not None:
                lock.unlink_socket()  # first: from now on a connect fails with ENOENT ("never delivered")
            watcher.wake()

        admission = Admission(on_shutdown)
        watcher = Watcher(admission, launch.config.idle_timeout)
        try:
            service = Service(launch.config, launch.token, launch.max_body_bytes, types, admission,
                              self.max_connections)
            try:
                if launch.transport == "unix":
                    lock = SocketLock(launch.address)
                    server = UnixServer(launch.address, service)
                    address = launch.address
                else:
                    server = TcpServer(port, service)
                    address = f"127.0.0.1:{server.port}"
            except ConfigError as e:
                return _fail(EXIT_USAGE, str(e))
            except LockError as e:
                return _fail(EXIT_BIND, str(e))
            except OSError as e:
                return _fail(EXIT_BIND, f"cannot bind {launch.transport} address {launch.address}: {e.strerror or e}: "
                                        "check that its directory exists and is writable, or that the port is free")
            server.start()
            handshake = {"protocolVersion": 1, "type": launch.transport, "address": address, "pid": os.getpid()}
            try:
                stdout.write(json.dumps(handshake, separators=(",", ":"), ensure_ascii=False) + "\n")
                stdout.flush()
            except (OSError, ValueError) as e:
                return _fail(EXIT_ABANDONED, f"cannot write the handshake to stdout: {e}")
            admission.restart_clock()
            sys.stdout = stdout
            if hasattr(stdout, "reconfigure"):
                stdout.reconfigure(line_buffering=True)  # later prints are log lines: do not hold them back

            watcher.run()
            left = admission.wait_drained(self.drain_grace)
            if left:
                log.error(f"{left} call(s) still running after the {self.drain_grace:g}s grace; exiting anyway")
                return EXIT_ABANDONED
            return EXIT_OK
        finally:
            if server is not None:
                server.stop()
            if lock is not None:
                lock.release()
            watcher.close()

    def _prog(self) -> str:
        return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "plugin"

    def _usage(self) -> None:
        prog = self._prog()
        sys.stderr.write(
            f"{self.name} {self.version}: a plugvisor plugin (protocol v1)"
            + (f": {self.description}" if self.description else "")
            + ".\nIt is normally started by a plugvisor manager. To run it by hand:\n"
            f"  {prog} capabilities          print what it provides (JSON)\n"
            f"  {prog} --config '<json>'     serve with an inline launch configuration\n"
            f"  {prog} --config -            read the configuration as one JSON line on stdin\n"
            "The configuration is described in docs/protocol.md (section Launch).\n"
        )
        sys.stderr.flush()


type_ = type  # `type` is shadowed by parameters named after the protocol's "type"


def _bind_object(obj: Any, table: Contract, contract: str, type_name: str) -> dict[str, BoundMethod]:
    methods: dict[str, BoundMethod] = {}
    for m in table.methods.values():
        fn = getattr(obj, m.attr, None)
        if fn is None:
            continue  # only ping may be missing: answered by itself
        methods[m.name] = BoundMethod(m.input, m.output, _adapt(fn, m.input is not Kind.NONE, f"{contract}/{type_name} {m.name}"))
    return methods


def _tcp_port(address: str) -> int:
    """The port of a launch configuration's TCP address, which is exactly
    ``127.0.0.1:PORT``, PORT 1 to 5 decimal digits up to 65535 (docs/protocol.md
    5.2 and 15; the C++ SDK's protocol::parse_plugin_tcp_address): anything
    else, ``localhost`` and ``[::1]`` included, is a ConfigError (exit 2)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or len(port) > 5 or int(port) > 65535:
        raise ConfigError(f"tcp address {address} is not HOST:PORT (use 127.0.0.1:0)")
    if host != "127.0.0.1":
        raise ConfigError(f"tcp address {address} is not 127.0.0.1:PORT: plugins only listen on 127.0.0.1 "
                          "(not localhost, which may resolve elsewhere)")
    return int(port)


def _read_config_line() -> bytes | None:
    """The first line on stdin, read without buffering beyond it that matters
    (bytes after the line are ignored by the protocol); None on end of input
    before any byte, or a line over 16 MiB."""
    buffer = bytearray()
    while True:
        try:
            chunk = os.read(0, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            return bytes(buffer) if buffer else None
        newline = chunk.find(b"\n")
        if newline >= 0:
            buffer += chunk[:newline]
            break
        buffer += chunk
        if len(buffer) > MAX_CONFIG_LINE:
            return None
    if len(buffer) > MAX_CONFIG_LINE:
        return None
    return bytes(buffer).rstrip(b"\r")


def _fail(code: int, message: str) -> int:
    log.error(message)
    return code
