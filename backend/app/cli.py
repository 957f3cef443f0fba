"""The `acehub` command line: serve the API, migrate the database, and more."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from app.config import get_settings
from app.connection import migrations
from app.connection.urls import redacted
from app.logging_config import configure_logging

cli = typer.Typer(help="acehub: an AceProject companion API.", no_args_is_help=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the API with uvicorn (uvloop event loop, httptools parser)."""
    import uvicorn

    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,  # client addresses are resolved by our trusted-proxy rules
        log_config=None,
        access_log=False,
        server_header=False,
    )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply database migrations (`alembic upgrade head`)."""
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    logging.getLogger("acehub").info("migrating %s", redacted(settings.database_url))
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {redacted(settings.database_url)}")


def main() -> None:
    cli()
