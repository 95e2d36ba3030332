"""plugin-py-data: the mock server's data, in SQLite (standard library sqlite3).

Two types over one database:

- ``dataSource`` type ``sqlite``: ``schema`` lists the tables and columns;
  ``query`` runs one statement with its parameters bound by sqlite3 (``?`` or
  ``:name``), on a read-only connection (``PRAGMA query_only``), at most
  1000 rows. Request values only ever travel as parameters: text such as
  ``1 OR 1=1`` or ``'; DROP TABLE users; --`` is compared as data.
- ``responseGenerator`` type ``crud``: answers ``/api/<table>`` and
  ``/api/<table>/<id>`` for the tables of the database (GET lists with
  ``?limit=&offset=``, GET one, POST creates, PUT/PATCH update, DELETE).
  Table and column names come from the database's own schema, never from the
  request; values are bound as parameters.

Config type ``mock.sqlite``: ``{"database": "/path/file.db"}``; without it a
shared in-memory database, seeded with users and products at each launch.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from typing import Any

from plugvisor_sdk import Config, InvalidInput, Plugin
from plugvisor_sdk.http_contracts import Response
from plugvisor_sdk.mock_contracts import DATA_SOURCE, RESPONSE_GENERATOR, DataSource, ResponseGenerator

MAX_ROWS = 1000
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ID = re.compile(r"[0-9]{1,18}")
SEED = """
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, role TEXT NOT NULL DEFAULT 'user');
CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL);
INSERT INTO users (name, email, role) SELECT 'Ada Lovelace', 'ada@example.com', 'admin' WHERE NOT EXISTS (SELECT 1 FROM users);
INSERT INTO users (name, email, role) SELECT 'Alan Turing', 'alan@example.com', 'user' WHERE (SELECT COUNT(*) FROM users) = 1;
INSERT INTO users (name, email, role) SELECT 'Grace Hopper', 'grace@example.com', 'user' WHERE (SELECT COUNT(*) FROM users) = 2;
INSERT INTO products (name, price) SELECT 'Analytical Engine', 1843.0 WHERE NOT EXISTS (SELECT 1 FROM products);
INSERT INTO products (name, price) SELECT 'Difference Engine', 1822.5 WHERE (SELECT COUNT(*) FROM products) = 1;
"""


class Database:
    """Connections to one database: one per call (sqlite3 connections are not
    shared between threads); a keeper holds a shared in-memory one open."""

    def __init__(self, config: Config) -> None:
        data = config.data("mock.sqlite") or {}
        path = data.get("database")
        if path:
            self.uri, self.keeper = f"file:{path}", None
        else:
            self.uri = f"file:plugvisor-mock-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self.keeper = sqlite3.connect(self.uri, uri=True, check_same_thread=False)
        self.lock = threading.Lock()  # writes, one at a time
        with self.connect() as conn:
            conn.executescript(SEED)

    def connect(self, read_only: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.uri, uri=True, timeout=5)
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def tables(self) -> dict[str, list[tuple[str, str]]]:
        with self.connect(read_only=True) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            return {n: [(c[1], c[2]) for c in conn.execute(f'PRAGMA table_info("{n}")')]
                    for n in names if _IDENT.fullmatch(n)}


class Sqlite(DataSource):
    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> dict[str, Any]:
        return {"language": "sqlite", "tables": [
            {"name": name, "columns": [{"name": c, "type": t} for c, t in columns]}
            for name, columns in self.db.tables().items()]}

    def run(self, query: str, params: list | dict):
        try:
            with self.db.connect(read_only=True) as conn:
                cursor = conn.execute(query, params)
                columns = [d[0] for d in cursor.description or []]
                rows = cursor.fetchmany(MAX_ROWS + 1)
        except sqlite3.ProgrammingError as e:   # wrong parameter count, several statements
            raise InvalidInput(f"the query cannot run with these parameters: {e}") from None
        except sqlite3.OperationalError as e:   # syntax, unknown table, a write on the read-only connection
            raise InvalidInput(f"the query failed: {e}") from None
        if len(rows) > MAX_ROWS:
            raise InvalidInput(f"the query gives more than {MAX_ROWS} rows: add a LIMIT")
        return columns, rows


def _not_found(message: str) -> Response:
    return Response.json_body({"error": {"code": "not_found", "message": message}}, 404)


class Crud(ResponseGenerator):
    PREFIX = "/api/"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _target(self, path: str) -> tuple[str, str | None] | None:
        if not path.startswith(self.PREFIX):
            return None
        parts = path[len(self.PREFIX):].strip("/").split("/")
        if not parts[0] or len(parts) > 2 or parts[0] not in self.db.tables():
            return None
        return parts[0], parts[1] if len(parts) == 2 else None

    def offer(self, request):
        target = self._target(request.path)
        if target is None or request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            return None
        return 10

    def respond(self, request) -> Response:
        table, ident = self._target(request.path) or ("", None)
        columns = [c for c, _ in self.db.tables().get(table, [])]
        if ident is not None and not _ID.fullmatch(ident):
            raise InvalidInput(f"{ident[:30]!r} is not a row id (a whole number)")
        if request.method == "GET":
            return self._get(table, columns, ident, request)
        if request.method == "DELETE" and ident is not None:
            with self.db.lock, self.db.connect() as conn:
                gone = conn.execute(f'DELETE FROM "{table}" WHERE id = ?', (int(ident),)).rowcount
            return Response(204) if gone else _not_found(f"no {table} row with id {ident}")
        values = self._values(request.json(), columns)
        if request.method == "POST" and ident is None:
            names = ", ".join(f'"{c}"' for c in values)
            with self.db.lock, self.db.connect() as conn:
                try:
                    rowid = conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(values))})',
                                         list(values.values())).lastrowid
                except sqlite3.IntegrityError as e:
                    raise InvalidInput(f"the row breaks a constraint of {table}: {e}") from None
            return self._one(table, columns, str(rowid), status=201)
        if request.method in ("PUT", "PATCH") and ident is not None:
            if not values:
                raise InvalidInput(f"send an object with some of the columns: {', '.join(columns)}")
            sets = ", ".join(f'"{c}" = ?' for c in values)
            with self.db.lock, self.db.connect() as conn:
                try:
                    changed = conn.execute(f'UPDATE "{table}" SET {sets} WHERE id = ?',
                                           [*values.values(), int(ident)]).rowcount
                except sqlite3.IntegrityError as e:
                    raise InvalidInput(f"the row breaks a constraint of {table}: {e}") from None
            return self._one(table, columns, ident) if changed else _not_found(f"no {table} row with id {ident}")
        return Response.json_body({"error": {"code": "invalid_input", "message":
                                             f"{request.method} {request.path}: use GET, POST on /api/{table}, "
                                             f"or GET, PUT, PATCH, DELETE on /api/{table}/ID"}}, 405)

    def _values(self, body: Any, columns: list[str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object of column values")
        unknown = [k for k in body if k not in columns or k == "id"]
        if unknown:
            raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown[:5]))}; the columns are "
                               f"{', '.join(c for c in columns if c != 'id')}")
        bad = [k for k, v in body.items() if not (v is None or isinstance(v, (str, int, float)))]
        if bad:
            raise InvalidInput(f"column {bad[0]} must be a string, a number or null")
        return dict(body)

    def _get(self, table: str, columns: list[str], ident: str | None, request) -> Response:
        if ident is not None:
            return self._one(table, columns, ident)
        limit, offset = request.param("limit", "100"), request.param("offset", "0")
        if not _ID.fullmatch(limit) or not _ID.fullmatch(offset) or int(limit) > MAX_ROWS:
            raise InvalidInput(f"limit (at most {MAX_ROWS}) and offset must be whole numbers")
        with self.db.connect(read_only=True) as conn:
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY id LIMIT ? OFFSET ?', (int(limit), int(offset)))
            return Response.json_body([dict(zip(columns, row)) for row in rows])

    def _one(self, table: str, columns: list[str], ident: str, status: int = 200) -> Response:
        with self.db.connect(read_only=True) as conn:
            row = conn.execute(f'SELECT * FROM "{table}" WHERE id = ?', (int(ident),)).fetchone()
        return Response.json_body(dict(zip(columns, row)), status) if row else _not_found(f"no {table} row with id {ident}")


plugin = Plugin(name="py-data", version="1.0.0", description="SQLite data: a dataSource and a CRUD responseGenerator")
plugin.config_type("mock.sqlite", {"type": "object", "additionalProperties": False,
                                   "properties": {"database": {"type": "string", "minLength": 1}}})
_database_lock = threading.Lock()
_databases: list[Database] = []


def _database(config: Config) -> Database:
    # One launch is one process with one configuration: both types share the
    # database made for the first of them.
    with _database_lock:
        if not _databases:
            _databases.append(Database(config))
        return _databases[0]


plugin.provide("sqlite", lambda config: Sqlite(_database(config)), contract=DATA_SOURCE,
               description="SQLite, parameterized queries only, read-only")
plugin.provide("crud", lambda config: Crud(_database(config)), contract=RESPONSE_GENERATOR,
               description="CRUD on /api/<table>[/<id>] over the same SQLite database")

if __name__ == "__main__":
    raise SystemExit(plugin.run())
