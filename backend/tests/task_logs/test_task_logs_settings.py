"""The task-log settings: their defaults, and a time zone that does not exist stops the start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.conftest import make_settings

URL = "sqlite+aiosqlite:///:memory:"


def test_defaults() -> None:
    settings = make_settings(URL)

    assert (settings.ace_write_back, settings.log_future_days, settings.report_timezone) == (
        True,
        0,
        "UTC",
    )


def test_a_known_time_zone_is_kept() -> None:
    assert make_settings(URL, report_timezone="Europe/Paris").report_timezone == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="report_timezone"):
        make_settings(URL, report_timezone=zone)


def test_future_days_are_bounded() -> None:
    with pytest.raises(ValidationError, match="log_future_days"):
        make_settings(URL, log_future_days=-1)
