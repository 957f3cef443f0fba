"""The one set-based upsert: every bulk write (the ACE mirror, batch saves) goes through it.

`upsert` runs `INSERT INTO table .. SELECT source ON CONFLICT (keys) DO UPDATE SET ..
WHERE <some updated column differs>` as one statement and counts what it did:

- `inserted`: rows that were not there;
- `updated`: rows that existed and differed (or had been deleted: a row of a table with a
  `deleted_at` column is revived by being written again);
- `unchanged`: rows written again with the same values; they are not touched at all, so
  writing identical data twice changes nothing (no `updated_at` bump either).

The incoming rows reach SQL as one bound value per column (`incoming`): typed arrays spread by
`unnest` on PostgreSQL, one JSON document read by `json_each` on SQLite. Column types come
from the tables themselves; nothing is sent or built per row. The dialect differences are the
two small functions at the end of this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Final

import orjson
from sqlalchemy import (
    Boolean,
    ColumnDefault,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    FromClause,
    Select,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.types import TypeDecorator

from app.connection.dialect import insert_for


@dataclass
class UpsertCounts:
    """What a write did to one entity; `deleted` is filled by the callers that also delete."""

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


def column_types(names: Sequence[str], *tables: Table) -> dict[str, TypeEngine[Any]]:
    """The type of each named column, from the first of `tables` that has it: a batch's
    lookup columns (an ACE project id on a task row) take the type of the table they match."""
    types: dict[str, TypeEngine[Any]] = {}
    for name in names:
        owner = next((table for table in tables if name in table.c), None)
        if owner is None:
            raise KeyError(f"no column {name!r} in {[table.name for table in tables]}")
        types[name] = _plain(owner.c[name].type)
    return types


def incoming(
    session: AsyncSession,
    columns: Mapping[str, Sequence[Any]],
    types: Mapping[str, TypeEngine[Any]],
    *,
    name: str = "incoming",
) -> FromClause:
    """Rows given column by column (equal-length sequences) as a table in SQL, one bound
    value per column. Values are as the driver takes them: aware UTC datetimes, dates,
    UUIDs, enum members or their values."""
    dialect = _dialect_name(session)
    return _incoming(
        dialect, tuple(columns), types, name, _incoming_params(dialect, columns, types, name)
    )


async def upsert_columns(
    session: AsyncSession,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
    touch: Sequence[str] = (),
    changed_keys: list[Any] | None = None,
) -> UpsertCounts:
    """Upsert rows given column by column, named like `table`'s columns (see `upsert`).

    A column with the same value in every row (the account, the sync time) is sent once, as
    a scalar; table columns the rows omit and whose default lives in Python (`users.guid`)
    are filled here, as SQL knows nothing of those defaults. The statement is built once per
    shape of rows and reused (a sync writes thousands of pages of the same shape).
    """
    count = len(next(iter(columns.values()), ()))
    if count == 0:
        return UpsertCounts()
    columns = _with_python_defaults(table, columns, count)
    same = frozenset(
        key for key, values in columns.items() if count > 1 and values.count(values[0]) == count
    )
    if len(same) == len(columns):  # identical rows: keep one column spread, to have rows at all
        same = same - {keys[-1]}
    dialect = _dialect_name(session)
    plan = _columns_plan(
        dialect,
        table,
        tuple(columns),
        same,
        tuple(keys),
        None if update is None else tuple(update),
        tuple(touch),
        changed_keys is not None,
    )
    spread = {key: values for key, values in columns.items() if key not in same}
    params = _incoming_params(dialect, spread, plan.types, "incoming")
    params.update({f"same_{key}": columns[key][0] for key in same})
    inserted, written = await _execute(session, plan, params, count, changed_keys)
    return UpsertCounts(inserted=inserted, updated=written - inserted, unchanged=count - written)


async def upsert(
    session: AsyncSession,
    table: Table,
    source: Select[Any],
    *,
    total: int,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
    touch: Sequence[str] = (),
    only_if: ColumnElement[bool] | None = None,
    changed_keys: list[Any] | None = None,
) -> UpsertCounts:
    """`INSERT INTO table SELECT source ON CONFLICT (keys) DO UPDATE`, one statement.

    `source` selects columns labelled like `table`'s; `total` is how many rows it yields.
    `update`: the columns copied onto an existing row, and whose change makes it "updated"
    (default: every selected column but the keys, `touch` and the row's own timestamps
    `created_at` / `updated_at`); the others are written on insert only. `touch`: columns
    copied only when the row is written anyway (`updated_at`, `synced_at`). `only_if`: a
    condition on the stored row for it to be updated at all. With `changed_keys`, the last
    key column of every inserted or updated row is appended to it.
    """
    plan = _plan(
        _dialect_name(session),
        table,
        source,
        keys=keys,
        update=update,
        touch=touch,
        only_if=only_if,
        want_keys=changed_keys is not None,
    )
    inserted, written = await _execute(session, plan, {}, total, changed_keys)
    return UpsertCounts(inserted=inserted, updated=written - inserted, unchanged=total - written)


@dataclass(frozen=True)
class _Plan:
    """A built upsert: the statement to run and, by dialect, how its effect is counted."""

    run: Any  # the upsert, RETURNING what `_execute` reads
    counted: Any | None  # PostgreSQL: the upsert inside a CTE that counts its rows
    existing: Any | None  # SQLite: how many incoming keys are stored already
    types: Mapping[str, TypeEngine[Any]]


def _plan(
    dialect: str,
    table: Table,
    source: Select[Any],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None,
    touch: Sequence[str],
    only_if: ColumnElement[bool] | None,
    want_keys: bool,
    types: Mapping[str, TypeEngine[Any]] | None = None,
) -> _Plan:
    source = source.where(true())  # SQLite parses `SELECT .. ON CONFLICT` only after a WHERE
    names = [selected.name for selected in source.selected_columns]
    if update is None:
        update = [name for name in names if name not in {*keys, *touch, *_TIMESTAMPS}]
    insert = insert_for(dialect, table).from_select(names, source, include_defaults=False)
    excluded = insert.excluded
    assignments: dict[str, Any] = {name: excluded[name] for name in (*update, *touch)}
    differs = [table.c[name].is_distinct_from(excluded[name]) for name in update]
    if "deleted_at" in table.c and "deleted_at" not in names:
        assignments["deleted_at"] = null()
        differs.append(table.c.deleted_at.is_not(None))
    changed = or_(*differs) if only_if is None else and_(only_if, or_(*differs))
    statement = insert.on_conflict_do_update(
        index_elements=[table.c[name] for name in keys], set_=assignments, where=changed
    )
    key = table.c[keys[-1]]
    if dialect == "postgresql":
        # xmax is 0 for a freshly inserted row version (a PostgreSQL system column).
        fresh = literal_column("xmax = 0", Boolean()).label("inserted")
        if want_keys:
            return _Plan(statement.returning(fresh, key), None, None, types or {})
        upserted = statement.returning(fresh).cte("upserted")
        counted = select(func.count().filter(upserted.c.inserted), func.count()).select_from(
            upserted
        )
        return _Plan(None, counted, None, types or {})
    rows = source.subquery("incoming_rows")
    stored = exists().where(and_(*(table.c[name] == rows.c[name] for name in keys)))
    existing = select(func.count()).select_from(rows).where(stored)
    return _Plan(statement.returning(key), None, existing, types or {})


@lru_cache(maxsize=256)
def _columns_plan(
    dialect: str,
    table: Table,
    names: tuple[str, ...],
    same: frozenset[str],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    touch: tuple[str, ...],
    want_keys: bool,
) -> _Plan:
    types = column_types(names, table)
    rows = _incoming(dialect, tuple(n for n in names if n not in same), types, "incoming", None)
    source = select(
        *(
            bindparam(f"same_{name}", type_=types[name]).label(name)
            if name in same
            else rows.c[name]
            for name in names
        )
    ).select_from(rows)
    return _plan(
        dialect,
        table,
        source,
        keys=keys,
        update=update,
        touch=touch,
        only_if=None,
        want_keys=want_keys,
        types=types,
    )


async def _execute(
    session: AsyncSession,
    plan: _Plan,
    params: dict[str, Any],
    total: int,
    changed_keys: list[Any] | None,
) -> tuple[int, int]:
    """Run a plan; returns (rows inserted, rows inserted or updated).

    PostgreSQL: `RETURNING (xmax = 0)` is true for an inserted row, counted in one CTE unless
    the written keys are wanted. SQLite (which holds its write lock for the whole
    transaction): count the keys already stored first; the rows RETURNING yields are the
    ones written.
    """
    if plan.counted is not None:
        inserted, written = (await session.execute(plan.counted, params)).one()
        return int(inserted), int(written)
    if plan.existing is None:
        returned = (await session.execute(plan.run, params)).all()
        if changed_keys is not None:
            changed_keys.extend(row[1] for row in returned)
        return sum(1 for row in returned if row[0]), len(returned)
    existing = int((await session.execute(plan.existing, params)).scalar() or 0)
    written_keys = (await session.execute(plan.run, params)).scalars().all()
    if changed_keys is not None:
        changed_keys.extend(written_keys)
    return total - existing, len(written_keys)


_TIMESTAMPS: Final = ("created_at", "updated_at")


def _plain(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The SQL type incoming values are sent as: the stored type without Python-side
    processing (a `TypeDecorator`'s implementation, an enum as its string), so that 100k
    values are not converted one by one on their way to the driver."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, Enum):
        return String()
    if isinstance(type_, String):
        return type(type_)()  # no length: a value too long is the table's to refuse
    if isinstance(type_, DateTime):
        return DateTime(timezone=True)
    return type_


def _with_python_defaults(
    table: Table, columns: Mapping[str, Sequence[Any]], count: int
) -> Mapping[str, Sequence[Any]]:
    missing = [
        table_column
        for table_column in table.columns
        if table_column.name not in columns
        and isinstance(table_column.default, ColumnDefault)
        and not table_column.primary_key
    ]
    if not missing:
        return columns
    filled = dict(columns)
    for table_column in missing:
        default = table_column.default
        assert isinstance(default, ColumnDefault)
        filled[table_column.name] = [
            default.arg(None) if default.is_callable else default.arg for _ in range(count)
        ]
    return filled


# --- the dialect differences ------------------------------------------------------------------


def _same(value: Any) -> Any:
    return value


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The text SQLAlchemy stores for a UTC datetime on SQLite, so comparisons stay exact.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


_SQLITE_ENCODERS: Final[dict[type[Any], Callable[[Any], Any]]] = {
    DateTime: _sqlite_datetime,
    Date: _sqlite_date,
    Uuid: _sqlite_uuid,
}


def _dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _incoming(
    dialect: str,
    names: tuple[str, ...],
    types: Mapping[str, TypeEngine[Any]],
    name: str,
    params: Mapping[str, Any] | None,
) -> FromClause:
    """The incoming rows' table: bound to `params` when given, else left to be bound at
    execution (a reused statement).

    PostgreSQL: `unnest($1::bigint[], $2::varchar[], ..) AS name(col, ..)`, so the driver
    sends typed arrays in binary. SQLite: the rows as one JSON array read by `json_each`.
    """

    def bound(key: str, type_: TypeEngine[Any]) -> Any:
        if params is None:
            return bindparam(key, type_=type_)
        return bindparam(key, params[key], type_=type_)

    if dialect == "postgresql":
        arrays = [bound(f"{name}_{key}", ARRAY(types[key])) for key in names]
        return (
            func.unnest(*arrays)
            .table_valued(*(column(key, types[key]) for key in names))
            .render_derived(name=name)
        )
    each = func.json_each(bound(f"{name}_rows", String())).table_valued("value")
    return (
        select(
            *(
                func.json_extract(each.c.value, f"$[{position}]").label(key)
                for position, key in enumerate(names)
            )
        )
        .select_from(each)
        .subquery(name)
    )


def _incoming_params(
    dialect: str,
    columns: Mapping[str, Sequence[Any]],
    types: Mapping[str, TypeEngine[Any]],
    name: str,
) -> dict[str, Any]:
    """The values `_incoming`'s parameters take for `columns`."""
    if dialect == "postgresql":
        return {f"{name}_{key}": list(values) for key, values in columns.items()}
    encoders = [_SQLITE_ENCODERS.get(type(types[key]), _same) for key in columns]
    encoded = [
        list(map(encode, values)) for values, encode in zip(columns.values(), encoders, strict=True)
    ]
    return {
        f"{name}_rows": orjson.dumps([list(row) for row in zip(*encoded, strict=True)]).decode()
    }
