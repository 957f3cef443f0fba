"""Hypothesis settings of the property tests that run against the app and a real database."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def database_examples(count: int) -> settings:
    """`count` examples sharing the test's fixtures (the client, the database), each allowed
    as long as its round trips take."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
