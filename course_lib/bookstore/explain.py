"""Ask the database how it will run a query: ``EXPLAIN`` on SQLite and PostgreSQL, read alike.

Each database prints its plan in its own words. SQLite's ``EXPLAIN QUERY PLAN`` says
``SCAN reviews`` (read the whole table) or ``SEARCH reviews USING INDEX ix (book_id=?)``
(jump to the matching rows through an index); PostgreSQL's ``EXPLAIN`` says
``Seq Scan on reviews`` or ``Index Scan using ix on reviews``. :func:`explain` returns the
plan's text together with a few questions answered for both dialects, so a lesson or a
self-check can assert on the plan rather than on a timing:

=======================  =========================================  ===============================
question                 SQLite says                                PostgreSQL says
=======================  =========================================  ===============================
``full_scans``           ``SCAN t`` (no index)                      ``Seq Scan on t``
``uses_index(name)``     ``... USING [COVERING] INDEX name``         ``Index [Only] Scan using name``,
                                                                    ``Bitmap Index Scan on name``
``index_only``           ``USING COVERING INDEX``                   ``Index Only Scan``
``sorts``                ``USE TEMP B-TREE FOR ...``                a ``Sort`` node
=======================  =========================================  ===============================

``analyze=True`` runs the query and reports actual row counts and times: PostgreSQL's
``EXPLAIN ANALYZE``. SQLite has no such command; there the plan is the same as without it.

>>> from sqlalchemy import create_engine, text
>>> engine = create_engine("sqlite://")
>>> with engine.begin() as connection:
...     _ = connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)"))
>>> plan = explain(engine, "SELECT id FROM t WHERE x = 3")
>>> plan.full_scans, plan.uses_index()
(['t'], False)
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.sql import ClauseElement

__all__ = ["Plan", "explain", "to_sql"]


@dataclass(frozen=True)
class Plan:
    """A query plan as the database printed it (``lines``), with dialect-independent answers."""

    dialect: str  #: "sqlite" or "postgresql"
    lines: tuple[str, ...]
    analyzed: bool = False  #: True if the query was run (PostgreSQL's EXPLAIN ANALYZE)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text

    @property
    def full_scans(self) -> list[str]:
        """Tables read from one end rather than searched: no condition narrows where to start.

        SQLite says ``SCAN t`` (also ``SCAN t USING INDEX ix``: the whole index, in order);
        PostgreSQL says ``Seq Scan on t``, or an index scan without an ``Index Cond``. A
        ``LIMIT`` may stop such a scan early, but nothing tells the database where the
        wanted rows are.
        """
        if self.dialect == "sqlite":
            pattern = re.compile(r"^\s*SCAN (\w+)")
            return [m.group(1) for line in self.lines if (m := pattern.match(line))]
        scans = []
        for i, line in enumerate(self.lines):
            if m := re.search(r"Seq Scan on (\w+)", line):
                scans.append(m.group(1))
            elif m := re.search(r"Index (?:Only )?Scan(?: Backward)? using \w+ on (\w+)", line):
                details = itertools.takewhile(lambda d: not _is_node(d), self.lines[i + 1 :])
                if not any("Index Cond:" in d for d in details):
                    scans.append(m.group(1))
        return scans

    def uses_index(self, name: str | None = None) -> bool:
        """Whether the plan reads an index (any index, or the one called ``name``).

        The primary key counts as an index on SQLite only when it is a named index;
        ``INTEGER PRIMARY KEY`` lookups (the rowid) are reported by ``uses_rowid``.
        """
        if self.dialect == "sqlite":
            pattern = r"USING (?:COVERING )?INDEX (\w+)"
        else:
            pattern = r"(?:Index Scan|Index Only Scan)(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)"
        found = [next(g for g in m.groups() if g) for line in self.lines for m in re.finditer(pattern, line)]
        return bool(found) if name is None else name in found

    def index_conditions(self, name: str) -> list[str]:
        """PostgreSQL: the ``Index Cond`` of each step that reads index ``name`` ([] on SQLite,
        whose plan shows the searched columns in the step itself, e.g. ``(customer_id=?)``)."""
        conditions = []
        for i, line in enumerate(self.lines):
            if self.dialect == "postgresql" and re.search(rf"(?:using|on) {re.escape(name)}\b", line):
                details = itertools.takewhile(lambda d: not _is_node(d), self.lines[i + 1 :])
                conditions += [d.strip().removeprefix("Index Cond: ") for d in details if "Index Cond:" in d]
        return conditions

    @property
    def index_only(self) -> bool:
        """Whether some table is answered from an index alone (a covering index)."""
        marker = "COVERING INDEX" if self.dialect == "sqlite" else "Index Only Scan"
        return any(marker in line for line in self.lines)

    @property
    def sorts(self) -> bool:
        """Whether the plan needs a separate sort step (for ``ORDER BY``, ``GROUP BY`` or ``DISTINCT``)."""
        if self.dialect == "sqlite":
            return any("USE TEMP B-TREE" in line for line in self.lines)
        return any(re.match(r"^\s*(?:->\s*)?(?:Incremental )?Sort\b", line) for line in self.lines)

    def nodes(self) -> list[str]:
        """The steps of the plan without costs or details, e.g. ``['Limit', 'Index Scan using ...']``."""
        if self.dialect == "sqlite":
            return [line.strip() for line in self.lines]
        return [
            re.sub(r"\s+\((?:cost|actual)=.*$", "", line.strip().removeprefix("->").strip())
            for line in self.lines
            if _is_node(line)
        ]


def _is_node(line: str) -> bool:
    """A PostgreSQL plan line that is a step (the first line, or one starting with ``->``)."""
    if line.startswith(("Planning", "Execution", "JIT", "Trigger")):
        return False  # EXPLAIN ANALYZE's summary lines
    return not line.startswith(" ") or line.lstrip().startswith("->")


def to_sql(statement: ClauseElement | str, bind: Engine | Connection) -> str:
    """The SQL text of ``statement`` with its values written in, as ``bind``'s dialect spells it.

    >>> from sqlalchemy import create_engine, select, column, table
    >>> print(to_sql(select(column("x")).select_from(table("t")).where(column("x") == 3), create_engine("sqlite://")))
    SELECT x
    FROM t
    WHERE x = 3
    """
    if isinstance(statement, str):
        return statement
    compiled = statement.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(line.rstrip() for line in str(compiled).splitlines())


def explain(
    bind: Engine | Connection, statement: ClauseElement | str, *, analyze: bool = False, parameters: Any = None
) -> Plan:
    """The plan ``bind``'s database chooses for ``statement`` (a SQLAlchemy statement or SQL text).

    SQLAlchemy statements are sent with their values written in (see :func:`to_sql`); for SQL
    text, pass ``parameters`` in the driver's style. With ``analyze=True`` PostgreSQL runs
    the statement (``EXPLAIN ANALYZE``): only use it on queries, never on writes you do not
    want done.
    """
    dialect = bind.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"explain() knows SQLite and PostgreSQL plans, not {dialect!r}")
    sql = to_sql(statement, bind)
    if dialect == "sqlite":
        prefix, analyzed = "EXPLAIN QUERY PLAN ", False
    else:
        prefix, analyzed = ("EXPLAIN (ANALYZE, BUFFERS OFF) " if analyze else "EXPLAIN "), analyze
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            rows = connection.exec_driver_sql(prefix + sql, parameters).all()
    else:
        rows = bind.exec_driver_sql(prefix + sql, parameters).all()
    if dialect == "postgresql":
        return Plan(dialect, tuple(row[0] for row in rows), analyzed)
    depth: dict[int, int] = {0: -1}
    lines = []
    for node_id, parent, _, detail in rows:  # SQLite: (id, parent id, unused, detail)
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
    return Plan(dialect, tuple(lines), analyzed)
