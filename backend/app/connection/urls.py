"""Database URL normalisation: every accepted form maps to its async driver."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


class UnsupportedDatabaseURL(ValueError):
    pass


def to_async_url(raw: str) -> str:
    """Return `raw` with its scheme replaced by the async driver acehub runs on.

    Accepts the seed's `postgresql+psycopg2://...`, `postgresql://`, `postgres://`,
    `postgresql+asyncpg://` and `sqlite:///...`.
    """
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    driver = _ASYNC_DRIVERS.get(scheme)
    if driver is None:
        raise UnsupportedDatabaseURL(
            f"DATABASE_URL scheme {scheme or '(none)'!r} is not supported; "
            "use postgresql://, postgresql+psycopg2://, postgresql+asyncpg:// or sqlite:///"
        )
    url = driver + raw[len(scheme) :]
    if driver == "postgresql+asyncpg" and "?" in url:
        url = _asyncpg_query(url)
    return url


# libpq options asyncpg names otherwise (`sslmode` is its `ssl`); timeouts come from settings.
_LIBPQ_RENAMED = {"sslmode": "ssl"}
_LIBPQ_DROPPED = frozenset({"connect_timeout"})


def _asyncpg_query(url: str) -> str:
    """Translate libpq query options of the seed's psycopg2 URLs for asyncpg."""
    parsed = make_url(url)
    query: dict[str, str | tuple[str, ...]] = {}
    for name, value in parsed.query.items():
        if name in _LIBPQ_DROPPED:
            continue
        query[_LIBPQ_RENAMED.get(name, name)] = value
    return parsed.set(query=query).render_as_string(hide_password=False)


def parse(raw: str) -> URL:
    return make_url(to_async_url(raw))


def redacted(raw: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return parse(raw).render_as_string(hide_password=True)


def libpq_url(raw: str) -> str:
    """The URL as libpq (psycopg, the job queue's driver) reads it: `postgresql://...`, with
    asyncpg's `ssl` option named `sslmode` again."""
    parsed = parse(raw).set(drivername="postgresql")
    query = {("sslmode" if name == "ssl" else name): value for name, value in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=False)
