"""Large incoming row sets on PostgreSQL: COPY into a temporary staging table.

`unnest` of typed arrays (`upsert.incoming`) costs the driver a per-element type check when
it encodes 10k-value arrays; binary COPY encodes rows straight from tuples, as fast as the
database reads them. `staged` creates a temporary table (dropped at commit, and with the
transaction on a rollback), copies the rows into it on the session's own asyncpg connection,
inside the session's transaction, and returns the table to select from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import TableClause, column, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.type_api import TypeEngine


async def staged(
    session: AsyncSession,
    name: str,
    columns: Mapping[str, Sequence[Any]],
    types: Mapping[str, TypeEngine[Any]],
) -> TableClause:
    """Rows given column by column as the temporary table `name` (PostgreSQL only)."""
    names = list(columns)
    dialect = session.get_bind().dialect
    definition = ", ".join(f"{key} {types[key].compile(dialect=dialect)}" for key in names)
    # Through the session: this also opens its transaction, which the COPY below joins.
    await session.execute(text(f"CREATE TEMPORARY TABLE {name} ({definition}) ON COMMIT DROP"))
    driver = await _driver_connection(session)
    if not driver.is_in_transaction():
        raise RuntimeError("staging rows outside a transaction would not be rolled back")
    records = list(zip(*columns.values(), strict=True))
    await driver.copy_records_to_table(name, records=records, columns=names)
    return table(name, *(column(key, types[key]) for key in names))


async def _driver_connection(session: AsyncSession) -> Any:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
