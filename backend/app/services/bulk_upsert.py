"""Set-based `INSERT .. ON CONFLICT DO UPDATE` that reports inserted / updated / unchanged.

A row is updated only when one of its compared columns differs (`IS DISTINCT FROM`), so
re-writing identical data touches nothing and is counted `unchanged`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnDefault, Table, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.connection.dialect import upsert_insert

MAX_BIND_PARAMS = 30_000


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self

    __iadd__ = add

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }


async def bulk_upsert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    compare: Sequence[str],
    touch: Sequence[str] = (),
) -> UpsertCounts:
    """Upsert `rows` (dicts with the same keys) keyed by the unique `keys`.

    `compare`: columns copied from the new row, and whose change makes the row "updated".
    `touch`: columns copied only when the row is updated anyway (e.g. `updated_at`).
    """
    if not rows:
        return UpsertCounts()
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    return await bulk_upsert_columns(
        session, table, columns, keys=keys, compare=compare, touch=touch
    )


async def bulk_upsert_columns(
    session: AsyncSession,
    table: Table,
    columns: Mapping[str, list[Any]],
    *,
    keys: Sequence[str],
    compare: Sequence[str],
    touch: Sequence[str] = (),
    changed_keys: list[Any] | None = None,
) -> UpsertCounts:
    """`bulk_upsert` for rows given column by column (equal-length lists): the bulk paths
    build these straight from their items, with no dict per row. With `changed_keys`, the
    value of the last key column of each inserted or updated row is appended to it."""
    count = len(next(iter(columns.values()), []))
    if count == 0:
        return UpsertCounts()
    columns = _with_python_defaults(table, columns, count)
    if session.get_bind().dialect.name == "postgresql":
        return await _postgres_upsert(
            session, table, columns, count, keys, compare, touch, changed_keys
        )
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    existing = await _existing_keys(session, table, rows, keys)

    insert = upsert_insert(session, table)
    excluded = insert.excluded
    changed = or_(*(table.c[name].is_distinct_from(excluded[name]) for name in compare))
    values = {name: excluded[name] for name in (*compare, *touch)}
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=values, where=changed)
    # One executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues").
    result = await session.execute(statement.returning(*(table.c[k] for k in keys)), rows)
    returned = [tuple(row) for row in result.all()]
    if changed_keys is not None:
        changed_keys.extend(key[-1] for key in returned)
    inserted = sum(1 for key in returned if key not in existing)
    updated = len(returned) - inserted
    return UpsertCounts(
        inserted=inserted,
        updated=updated,
        unchanged=count - len(returned),
    )


async def _postgres_upsert(
    session: AsyncSession,
    table: Table,
    values: Mapping[str, list[Any]],
    count: int,
    keys: Sequence[str],
    compare: Sequence[str],
    touch: Sequence[str],
    changed_keys: list[Any] | None,
) -> UpsertCounts:
    """PostgreSQL: one statement per call whatever the row count, each column sent as one
    typed array and spread by `unnest` (no per-row SQL, no per-row bind parameters)."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = list(values)
    # A column with one value for every row (the account, the sync time) goes as a scalar.
    same = {n for n in columns if count > 1 and values[n].count(values[n][0]) == count}
    if len(same) == len(columns):  # identical rows: nothing to spread, send them as arrays
        same = set()
    spread = [n for n in columns if n not in same]

    def sql_type(name: str) -> str:
        return str(table.c[name].type.compile(dialect=dialect))

    arrays = ", ".join(f"CAST(:{n} AS {sql_type(n)}[])" for n in spread)
    selected = ", ".join(
        f"CAST(:{n} AS {sql_type(n)})" if n in same else f"u.{quote(n)}" for n in columns
    )
    updates = ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in (*compare, *touch))
    changed = " OR ".join(
        f"{quote(table.name)}.{quote(n)} IS DISTINCT FROM EXCLUDED.{quote(n)}" for n in compare
    )
    # Identifiers come from our own table metadata (quoted); every value is a bound parameter.
    statement = text(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in columns)}) "  # noqa: S608
        f"SELECT {selected} FROM unnest({arrays}) AS u({', '.join(quote(n) for n in spread)}) "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {updates} "
        f"WHERE {changed} "
        # xmax is 0 for a freshly inserted row version (a PostgreSQL system column).
        f"RETURNING (xmax = 0), {quote(keys[-1])}"
    )
    params = {n: (values[n][0] if n in same else values[n]) for n in columns}
    returned = (await session.execute(statement, params)).all()
    if changed_keys is not None:
        changed_keys.extend(row[1] for row in returned)
    inserted = sum(1 for row in returned if row[0])
    return UpsertCounts(
        inserted=inserted,
        updated=len(returned) - inserted,
        unchanged=count - len(returned),
    )


def _with_python_defaults(
    table: Table, columns: Mapping[str, list[Any]], count: int
) -> Mapping[str, list[Any]]:
    """Fill columns whose default lives in Python (e.g. `users.guid`) and that the rows omit:
    the unnest path sends plain SQL, which knows nothing of them."""
    missing = [
        column
        for column in table.columns
        if column.name not in columns
        and isinstance(column.default, ColumnDefault)
        and not column.primary_key
    ]
    if not missing:
        return columns
    filled = dict(columns)
    for column in missing:
        default = column.default
        assert isinstance(default, ColumnDefault)
        filled[column.name] = [
            default.arg(None) if default.is_callable else default.arg for _ in range(count)
        ]
    return filled


async def _existing_keys(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> set[tuple[Any, ...]]:
    columns = [table.c[k] for k in keys]
    wanted = [tuple(row[k] for k in keys) for row in rows]
    size = max(1, MAX_BIND_PARAMS // len(keys))
    found: set[tuple[Any, ...]] = set()
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        if len(keys) == 1:
            condition = columns[0].in_([key[0] for key in chunk])
        else:
            condition = tuple_(*columns).in_(chunk)
        result = await session.execute(select(*columns).where(condition))
        found.update(tuple(row) for row in result.all())
    return found
