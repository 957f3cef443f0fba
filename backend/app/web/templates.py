"""The dashboard's Jinja2 templates (autoescaped: everything rendered is escaped unless a
template says otherwise, and none does)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates

TEMPLATE_DIR = Path(__file__).parent / "templates"


def hours(value: float | None) -> str:
    """Decimal hours for people: 1.5, 12, or a dash."""
    if value is None:
        return "\u2013"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def when(value: datetime | date | None) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["hours"] = hours
_environment.filters["when"] = when

templates = Jinja2Templates(env=_environment)
