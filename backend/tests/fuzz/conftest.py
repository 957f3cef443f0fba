"""Fuzzing acehub's own OpenAPI schema with schemathesis, over real HTTP through the ASGI app.

The app runs on the test's event loop (the `own_env` fixture: SQLite, a sandbox of the
test's own, the demo account mirrored). Hypothesis runs in a worker thread and hands every
generated request back to that loop, so the app, its database engine and its ACE client
live on one loop, as they do in production. `FUZZ_EXAMPLES` sets the examples per operation
(and the stateful scenarios): small in the suite, large under `make fuzz`.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import APIOperation, CheckContext, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.sync.conftest import SyncEnv, own_env, own_sandbox  # noqa: F401  (fixtures)

Operation = APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# Operations that start ACE work (a sync job, a synchronous mirror): a few examples are
# enough to check their answers, and keep the sandbox calls light.
ACE_HEAVY = frozenset(
    {"POST /sync/jobs", "POST /projects/fetch-projects", "POST /tasks/fetch-tasks"}
)
ACE_HEAVY_EXAMPLES = max(2, FUZZ_EXAMPLES // 20)
# Steps of one stateful scenario (sign in, refresh, refresh again, ...).
STATEFUL_STEPS = 6
# Run last: they end the caller's session or change users (later cases would only see 401s).
LAST = (
    "PATCH /admin/users/{user_id}/role",
    "POST /admin/users/{user_id}/deactivate",
    "POST /auth/logout",
)


CONFIG = schemathesis.Config.from_dict(
    {
        # Unknown query parameters are ignored by design (docs/api.md), so a request is not
        # made invalid by adding one.
        "generation": {"allow-extra-parameters": False},
        # Only the schema's own links: an inferred one (GET /auth/me -> GET /tasks/{user_id})
        # makes GET /auth/me the only entry point, and no scenario would start with a sign-in.
        "phases": {"stateful": {"inference": {"algorithms": []}}},
    }
)
# ACE's own trouble, answered as the schema declares it (e.g. 502 when ACE refuses to delete
# a line that is already approved): the sandbox behaves like ACE, so these are not acehub's
# faults. Any other 5xx (500, DB_UNAVAILABLE) is.
UPSTREAM_ERRORS = {502: "ACE_BAD_RESPONSE", 503: "ACE_UNAVAILABLE", 504: "ACE_TIMEOUT"}


def not_an_acehub_error(ctx: CheckContext, response: schemathesis.Response, case: Case) -> None:
    """schemathesis' not_a_server_error, but for a declared upstream error from ACE."""
    if UPSTREAM_ERRORS.get(response.status_code) == _error_code(response):
        return
    not_a_server_error(ctx, response, case)


def _error_code(response: schemathesis.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error_code") if isinstance(body, dict) else None


# No 5xx of acehub's own; every status, content type, header and body as declared; bad
# input refused.
# (Checks that re-send a request on their own, such as ignored_auth, are left out: every
# request here goes through `Fuzzer.send`; tests/auth/test_guards.py covers the guards.)
CHECKS: list[CheckFunction] = [
    not_an_acehub_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz_settings(max_examples: int, **extra: Any) -> hypothesis.settings:
    """Bounded and repeatable: derandomized, no example database, no shrinking (a failure
    is reported as generated; its curl line reproduces it)."""
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **extra,
    )


@dataclass
class Fuzzer:
    """Sends schemathesis cases to the app on `loop` (from the Hypothesis thread)."""

    env: SyncEnv
    loop: asyncio.AbstractEventLoop
    schema: schemathesis.BaseSchema = field(init=False)
    seen: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = schemathesis.openapi.from_dict(self.env.app.openapi(), config=CONFIG)

    def send(self, case: Case) -> httpx.Response:
        """Called from the Hypothesis thread: the request runs on the app's loop."""
        kwargs = case.as_transport_kwargs(base_url=str(self.env.client.base_url))
        request = self.env.client.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=kwargs.get("headers"),
            cookies=kwargs.get("cookies") or None,
            json=kwargs.get("json"),
            content=_content(kwargs.get("data")),
        )
        response = asyncio.run_coroutine_threadsafe(request, self.loop).result(timeout=60)
        self.seen.append((case.operation.label, response.status_code))
        return response

    def operations(self) -> list[Operation]:
        # An operation the loader cannot read is an Err: the schema is FastAPI's, so none is.
        found = [
            result.ok() for result in self.schema.get_all_operations() if isinstance(result, Ok)
        ]
        return sorted(found, key=lambda op: LAST.index(op.label) if op.label in LAST else -1)

    def fuzz_operation(
        self,
        operation: Operation,
        mode: GenerationMode,
        headers: dict[str, str],
        max_examples: int,
    ) -> str | None:
        """One operation's run; the failure's report, or None."""

        # The token is a fixed header, so a negative case never negates it (a request must
        # be invalid by what it asks, not refused for a broken token).
        @fuzz_settings(max_examples)
        @hypothesis.given(operation.as_strategy(generation_mode=mode, headers=headers))
        def run(case: Case) -> None:
            response = self.send(case)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            return None  # nothing to negate: an operation without parameters or body
        # A check's FailureGroup is a BaseExceptionGroup; collected for one assertion.
        except (Exception, BaseExceptionGroup) as exc:
            return f"{operation.label} ({mode.value}): {type(exc).__name__}\n{exc}"
        return None

    def fuzz_all(self, headers: dict[str, str]) -> list[str]:
        """Every operation, positive and negative cases, with the caller's `headers`; the
        reports of the failures."""
        failures = []
        for operation in self.operations():
            examples = ACE_HEAVY_EXAMPLES if operation.label in ACE_HEAVY else FUZZ_EXAMPLES
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failure = self.fuzz_operation(operation, mode, headers, examples)
                if failure is not None:
                    failures.append(failure)
        return failures


def _content(data: Any) -> bytes | str | None:
    """A non-JSON body as bytes (schemathesis serialises it for requests' `data=`)."""
    if data is None or isinstance(data, (bytes, str)):
        return data
    raise TypeError(f"unexpected request body {type(data).__name__}")


def stateful_machine(fuzzer: Fuzzer, credentials: dict[str, str]) -> type[Any]:
    """The state machine of the schema's links among the sign-in operations and their
    targets. The ACE sign-in is sent with real credentials (generated ones are refused, and
    a link from a refused sign-in leads nowhere); the links carry the tokens and the user id
    on from there."""
    linked = fuzzer.schema.include(
        path=["/user/login", "/auth/login", "/auth/refresh", "/auth/me", "/tasks/{user_id}"]
    )
    base: type[Any] = linked.as_state_machine()

    class SignInMachine(base):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            if case.operation.label == "POST /user/login":
                case.body = dict(credentials)

        def call(self, case: Case, **kwargs: Any) -> schemathesis.Response:
            return schemathesis.Response.from_any(fuzzer.send(case))

        def validate_response(
            self, response: schemathesis.Response, case: Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    return SignInMachine
