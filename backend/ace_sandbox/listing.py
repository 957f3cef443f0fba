"""Ordering, paging and a small result cache shared by the list functions.

Rules (from the API explorer and public clients, invented where they are silent):

- Order: the ``sortorder`` fields (comma-separated, case-insensitive names of the function's
  full row, each optionally followed by ``ASC`` or ``DESC``; nulls first ascending, text
  compared case-insensitively), then the primary id ascending. An unknown field fails
  (3001).
- Paging: ``pagenumber`` null returns the full list and ignores ``rowsperpage``. When
  ``pagenumber`` is set, ``rowsperpage`` null means the configured default page size
  (100); both must be >= 1 (else 3001). Every row of a paged answer carries
  ``TOTAL_ROW_COUNT``; a page past the end is ``ok`` with no rows.
- Page cap (optional, ``max_rows_per_page``; ACE documents no maximum, so a service may
  answer fewer rows than asked): a paged request asking for more rows is answered as if
  ``rowsperpage`` were the cap (page offsets computed with it, ``TOTAL_ROW_COUNT`` still the
  whole count); an unpaged request gets only the first cap rows (and no
  ``TOTAL_ROW_COUNT``).
- The ordered id list of a query is cached per (function, account version, caller,
  filters), so paging through 100k tasks costs one filtering pass; any data change bumps
  the account version and so invalidates it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any, TypeVar

from ace_sandbox.params import ERR_INVALID, AceFailure, Params

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    rows: int
    #: False for an unpaged request cut to the page cap (its rows carry no TOTAL_ROW_COUNT)
    paged: bool = True


def parse_paging(params: Params, default_rows: int, max_rows: int | None = None) -> Paging | None:
    """The requested page (None: the whole list), with ``rowsperpage`` held to ``max_rows``."""
    page = params.integer("pagenumber")
    if page is None:
        return None if max_rows is None else Paging(1, max_rows, paged=False)
    if page < 1:
        raise AceFailure(ERR_INVALID, f"invalid pagenumber: {page} (must be 1 or more)")
    rows = params.integer("rowsperpage")
    if rows is None:
        rows = default_rows
    if rows < 1:
        raise AceFailure(ERR_INVALID, f"invalid rowsperpage: {rows} (must be 1 or more)")
    if max_rows is not None:
        rows = min(rows, max_rows)
    return Paging(page, rows)


def parse_sortorder(text: str | None, fields: frozenset[str]) -> list[tuple[str, bool]]:
    """``"name desc, PROJECT_ID"`` → ``[("NAME", True), ("PROJECT_ID", False)]``."""
    if text is None:
        return []
    result: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in {"ASC", "DESC"}):
            raise AceFailure(ERR_INVALID, f"invalid sortorder: {part.strip()!r}")
        name = words[0].upper()
        if name not in fields:
            raise AceFailure(ERR_INVALID, f"invalid sortorder field: {words[0]!r}")
        result.append((name, len(words) == 2 and words[1].upper() == "DESC"))
    return result


def sort_key(field: str) -> Callable[[Row], tuple[int, Any]]:
    def key(row: Row) -> tuple[int, Any]:
        value = row.get(field)
        if value is None or value == "":
            return (0, 0)
        if isinstance(value, str):
            return (1, value.casefold())
        return (1, value)

    return key


def order(
    items: Sequence[T],
    id_of: Callable[[T], int],
    sort: list[tuple[str, bool]],
    row_of: Callable[[T], Row],
) -> list[T]:
    """Items ordered by the sort fields, then by id (stable multi-key sort)."""
    ordered = sorted(items, key=id_of)
    if not sort:
        return ordered
    rows = [(row_of(item), item) for item in ordered]
    for field, descending in reversed(sort):
        key = sort_key(field)

        def pair_key(pair: tuple[Row, T], key: Callable[[Row], tuple[int, Any]] = key) -> Any:
            return key(pair[0])

        rows.sort(key=pair_key, reverse=descending)
    return [item for _, item in rows]


def page_of(items: Sequence[T], paging: Paging | None) -> Sequence[T]:
    if paging is None:
        return items
    start = (paging.page - 1) * paging.rows
    return items[start : start + paging.rows]


def with_total(rows: list[Row], paging: Paging | None, total: int) -> list[Row]:
    if paging is not None and paging.paged:
        for row in rows:
            row["TOTAL_ROW_COUNT"] = total
    return rows


class QueryCache:
    """A small thread-safe LRU of ordered id lists."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, list[int]] = OrderedDict()
        self._lock = Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], list[int]]) -> list[int]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        value = compute()
        if self._size > 0:
            with self._lock:
                self._items[key] = value
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_NOT_FILTERS = frozenset(
    {
        "fct",
        "guid",
        "format",
        "pagenumber",
        "rowsperpage",
        "accountid",
        "language",
        "browserinfo",
        "asynccall",
        "asynccallid",
    }
)


def filter_key(params: Params) -> frozenset[tuple[str, str]]:
    """The parameters that can change a list's content or order (cache key part)."""
    return frozenset(
        (name, value.strip().lower())
        for name, value in params.raw.items()
        if name not in _NOT_FILTERS and params.text(name) is not None
    )
