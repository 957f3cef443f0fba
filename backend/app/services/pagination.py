"""Pages of the list endpoints: keyset sorts, signed cursors, and what every page reports.

A page is cut by `offset` or by a keyset cursor (every sort supports one): the rows after the
previous page's last (sort value, id), in the order `order_by` gives. A cursor is opaque,
signed with a key derived from the app's secret, and bound to the query it was made for (the
user, filters and sort), so a tampered or foreign one is a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, bindparam, or_, select
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import UnaryExpression

from app.dto.task import PageQuery
from app.errors import AppError, ErrorCode
from app.models import SyncJob, SyncState

ValueKind = Literal["int", "str", "date", "datetime"]


@dataclass(frozen=True, slots=True)
class SortSpec:
    """Order by `column` (nulls last), then by `id` ascending; `column == "id"` sorts by id."""

    column: str
    descending: bool
    kind: ValueKind


def parse_sort(sort: str, columns: Mapping[str, tuple[str, ValueKind]]) -> SortSpec:
    """`-name` → descending `name`; the names are the DTO's whitelist, so this cannot fail."""
    descending = sort.startswith("-")
    column, kind = columns[sort.removeprefix("-")]
    return SortSpec(column=column, descending=descending, kind=kind)


def order_by(
    spec: SortSpec, column: ColumnElement[Any], id_column: ColumnElement[Any]
) -> list[UnaryExpression[Any]]:
    if spec.column == "id":
        return [id_column.desc() if spec.descending else id_column.asc()]
    primary = column.desc() if spec.descending else column.asc()
    return [primary.nulls_last(), id_column.asc()]


def after_key(
    spec: SortSpec,
    column: ColumnElement[Any],
    id_column: ColumnElement[Any],
    value: object,
    last_id: object,
) -> ColumnElement[bool]:
    """Rows after (`value`, `last_id`) in the order `order_by` gives."""
    if spec.column == "id":
        return id_column < last_id if spec.descending else id_column > last_id
    later_id = id_column > last_id
    if value is None:  # already among the trailing nulls
        return and_(column.is_(None), later_id)
    beyond = column < value if spec.descending else column > value
    return or_(beyond, and_(column == value, later_id), column.is_(None))


def query_fingerprint(*parts: Any) -> str:
    """A short digest of what a cursor was made for (user, filters, sort)."""
    text = json.dumps(parts, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _decode_value(raw: Any, kind: ValueKind) -> Any:
    if raw is None:
        return None
    if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == "str" and isinstance(raw, str):
        return raw
    if kind == "date" and isinstance(raw, str):
        return date.fromisoformat(raw)
    if kind == "datetime" and isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is not None:
            return moment
    raise ValueError("unexpected key value")


def param_error(message: str, field: str = "cursor") -> AppError:
    """A 422 naming one query parameter, shaped like FastAPI's own validation errors."""
    return AppError(
        f"The request is not valid: check query.{field}",
        code=ErrorCode.VALIDATION_ERROR,
        data=[{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


class CursorCodec:
    """Opaque page cursors: the last row's sort value and id, signed with a key derived from
    the app's secret and bound to the query they were made for."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"acehub-page-cursor\x00" + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, *, query_id: str, value: Any, last_id: int) -> str:
        payload = json.dumps(
            {"q": query_id, "v": _encode_value(value), "i": last_id}, separators=(",", ":")
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, token: str, *, query_id: str, kind: ValueKind) -> tuple[Any, int]:
        """The (value, id) a cursor carries; a 422 naming `cursor` when it is not one of ours,
        was altered, or belongs to another query (other user, filters or sort)."""
        try:
            payload_text, signature_text = token.split(".")
            payload = _b64decode(payload_text)
            signature = _b64decode(signature_text)
        except (ValueError, binascii.Error) as exc:
            raise param_error("not a cursor returned by this endpoint") from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise param_error("not a cursor returned by this endpoint")
        try:
            content = json.loads(payload)
            if content["q"] != query_id:
                raise param_error("the cursor was made for other filters or another sort")
            last_id = content["i"]
            if not isinstance(last_id, int) or isinstance(last_id, bool):
                raise ValueError("bad id")
            return _decode_value(content["v"], kind), last_id
        except (ValueError, KeyError, TypeError) as exc:
            raise param_error("not a cursor returned by this endpoint") from exc


@lru_cache(maxsize=4)
def cursor_codec(secret: str) -> CursorCodec:
    """The codec for the app's secret, made once per secret rather than once per request."""
    return CursorCodec(secret)


def check_page(query: PageQuery) -> None:
    """A page is cut by `offset` or by `cursor`, not both (422 naming `offset`)."""
    if query.cursor is not None and query.offset:
        raise param_error("give either offset or cursor, not both", field="offset")


def synced_through(
    account_id: ColumnElement[Any] | QueryableAttribute[Any] | None = None,
) -> ColumnElement[Any]:
    """When the account's latest successful sync started (null before the first): every
    mirrored row reflected ACE as of then at least, whether or not that sync rewrote it.
    The account is the `account_id` parameter unless given."""
    account = bindparam("account_id") if account_id is None else account_id
    return (
        select(SyncJob.started_at)
        .where(SyncJob.account_id == account, SyncJob.state == SyncState.succeeded)
        .order_by(SyncJob.finished_at.desc())
        .limit(1)
        .scalar_subquery()
        .label("synced_through")
    )


SYNCED_THROUGH_STATEMENT = select(synced_through())
