"""Batch save (`POST /data/save`): a whole batch validated first, then written set-based.

How a batch is handled:

1. `prepare_batch` (a worker thread, no database): parse and validate the raw body, apply
   the item cap, refuse duplicate keys, and lay every entity out column by column, sorted by
   its key.
2. `save_batch` (the request's transaction): check that every reference (a task's project,
   an assignee's or log's task and user) is in the batch or stored, alive, in the caller's
   account, locking the stored ones against deletion; then one `INSERT .. SELECT ..
   ON CONFLICT DO UPDATE .. WHERE <some column differs>` per entity, in the order users,
   projects, tasks, assignees, task logs (on PostgreSQL a large entity is first copied into
   a staging table of the transaction). Rows are resolved to internal ids by joins inside
   those statements; no ORM object is made per row.

Guarantees:

- All or nothing: any problem (shape, field, duplicate, missing reference) is reported as a
  whole list before anything is written, and a failure while writing rolls everything back
  (the request's unit of work commits only when the route returns).
- Idempotent: an update happens only when some column differs, so the same batch again
  changes nothing and reports every item `unchanged` (no `updated_at` bump either).
- An item is the full client-settable state of its row: an omitted optional field is stored
  as null (booleans as their default). Saving never deletes rows, and saving an item revives
  a row that a sync had marked deleted.
- Users: a new one is an inactive ACE placeholder with the member role; an existing ACE
  user gets the item's profile fields, never a new role or active flag; a local account
  (`auth_source=local`) is left as it is (counted unchanged).
- Concurrent batches: each row ends equal to one whole batch's item, never a mix, and no
  batch's change is lost unless a later batch rewrote the same row. On PostgreSQL,
  `ON CONFLICT DO UPDATE` locks each row it inserts or updates until commit; a concurrent
  writer of the same row waits, then re-reads the committed row and applies its own
  complete version. Every batch takes those locks in one global order (entity, then key),
  so two batches cannot deadlock (were one ever aborted as a deadlock or serialization
  failure, the answer is 409 `CONFLICT`: resend). On SQLite each write transaction holds
  the database's write lock from its first statement to its commit.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app import runtime
from app.connection.database import Database
from app.connection.statistics import refresh_statistics
from app.connection.unit_of_work import after_commit
from app.dto.save_dto import SaveResult
from app.services.save.prepare import PreparedBatch, prepare_batch
from app.services.save.write import rows_written, save_batch

__all__ = ["PreparedBatch", "after_response", "prepare_batch", "save", "save_batch"]


async def save(
    session: AsyncSession,
    database: Database,
    *,
    account_id: str,
    raw: bytes,
    max_items: int,
) -> SaveResult:
    """Validate the raw body (off the event loop), then write it into `account_id` in the
    unit of work `session`. Once that commits, and still before the response, the planner
    statistics of the tables it changed are refreshed (`refresh_statistics`, on another
    connection of `database`: it must see the committed rows, and the client's next read
    of what it saved must find fresh statistics)."""
    batch = await prepare_batch(raw, max_items=max_items)
    result = await save_batch(session, account_id=account_id, batch=batch)
    after_commit(session, partial(refresh_statistics, database, rows_written(result)))
    return result


def after_response() -> None:
    """Once a save has answered: collect the garbage the batch left (`collect_after_batch`),
    off the request's latency but before the worker's memory could climb over many saves."""
    runtime.collect_after_batch()
