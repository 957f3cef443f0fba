"""The simulated users of `python -m load.run` (locust): the demo account's people at work.

Each user signs in once (`POST /user/login`) and trades its refresh token for new tokens every
45-75 s (`PATCH /auth/refresh`, about 20 a minute for 20 users: the per-address limit is 60 a
minute). Reads dominate: the user's tasks, the time report and the task-log list; alice also
logs notes and time (her time goes to ACE, the sandbox, first) and the admin sends small batch
saves. A separate user signs in and out every few seconds, so sign-in has its own figures
without coming near the rate limits.

A 429 (a deliberate limit) is not a failure: it is counted apart, per operation, and written
to the JSON file `LOAD_LIMITED_FILE` names when the run ends.

Settings (environment): `LOAD_ACCOUNT` (default `demo`), `LOAD_PASSWORD` (`demo-password`),
`LOAD_LIMITED_FILE` (unset: not written).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from locust import HttpUser, between, constant, events, task

ACCOUNT = os.environ.get("LOAD_ACCOUNT", "demo")
PASSWORD = os.environ.get("LOAD_PASSWORD", "demo-password")
REFRESH_SECONDS = (45.0, 75.0)
# The admin's batches write these keys only (a project of their own and its tasks).
BATCH_PROJECT = 990_001
BATCH_TASKS = 10

limited: Counter[str] = Counter()  # 429 answers per operation
_batch_versions = count(1)


def _write_limited(**_kwargs: Any) -> None:
    target = os.environ.get("LOAD_LIMITED_FILE")
    if target:
        Path(target).write_text(json.dumps(dict(limited)))


events.quitting.add_listener(_write_limited)  # type: ignore[no-untyped-call]


class AcehubUser(HttpUser):
    """A signed-in person of the account; subclasses name them and what they do."""

    abstract = True
    username = ""
    wait_time = between(0.3, 1.5)

    def on_start(self) -> None:
        self.user_id = 0
        self.access_token = ""
        self.refresh_token = ""
        self.refresh_due = 0.0
        self.task_ids: list[int] = []
        while not self.sign_in():
            time.sleep(1)
        tasks = self.call("GET", f"/tasks/{self.user_id}?limit=50", "tasks")
        if tasks is not None:
            self.task_ids = [item["id"] for item in tasks["data"]["items"]]

    # --- plumbing ----------------------------------------------------------------------------

    def call(
        self, method: str, path: str, name: str, *, body: Any = None, auth: bool = True
    ) -> dict[str, Any] | None:
        """One request; a 2xx is a success and answers its JSON, a 429 is counted apart, any
        other answer is a failure (status and the start of the body)."""
        if auth and time.monotonic() >= self.refresh_due:
            self.refresh()
        headers = {"Authorization": f"Bearer {self.access_token}"} if auth else {}
        with self.client.request(
            method, path, name=name, json=body, headers=headers, catch_response=True
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                response.success()
                parsed: dict[str, Any] = response.json()
                return parsed
            if status == 429:
                limited[name] += 1
                response.success()
                return None
            response.failure(f"HTTP {status}: {response.text[:200]}")
            return None

    def _took_tokens(self, tokens: dict[str, Any]) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.refresh_due = time.monotonic() + random.uniform(*REFRESH_SECONDS)

    def sign_in(self) -> bool:
        body = {"account_id": ACCOUNT, "username": self.username, "password": PASSWORD}
        answer = self.call("POST", "/user/login", "sign-in", body=body, auth=False)
        if answer is None:
            return False
        self.user_id = answer["data"]["user_id"]
        self._took_tokens(answer["data"])
        return True

    def refresh(self) -> None:
        body = {"refresh_token": self.refresh_token}
        answer = self.call("PATCH", "/auth/refresh", "refresh", body=body, auth=False)
        if answer is not None:
            self._took_tokens(answer["data"])
        else:  # limited or refused: try again a little later with the same token
            self.refresh_due = time.monotonic() + 10

    # --- what people do ----------------------------------------------------------------------

    def my_tasks(self) -> None:
        sort = random.choice(("due", "-updated", "priority"))
        self.call("GET", f"/tasks/{self.user_id}?limit=50&sort={sort}", "tasks")

    def time_report(self) -> None:
        today = date.today()
        start = today - timedelta(days=random.choice((28, 91, 365)))
        path = (
            f"/reports/time?group=project&sub_group=week"
            f"&date_from={start.isoformat()}&date_to={today.isoformat()}"
        )
        self.call("GET", path, "report time")

    def task_logs(self) -> None:
        kind = random.choice(("", "&kind=time", "&kind=note"))
        self.call("GET", f"/task-logs?limit=50{kind}", "task-logs")


class Alice(AcehubUser):
    """A member who logs her work: notes and time on her tasks."""

    weight = 3
    username = "alice"

    @task(10)
    def read_tasks(self) -> None:
        self.my_tasks()

    @task(4)
    def report(self) -> None:
        self.time_report()

    @task(4)
    def logs(self) -> None:
        self.task_logs()

    @task(1)
    def log_note(self) -> None:
        if self.task_ids:
            task_id = random.choice(self.task_ids)
            body = {"kind": "note", "comment": f"load note {time.time():.3f}"}
            self.call("POST", f"/tasks/{task_id}/logs", "log note", body=body)

    @task(1)
    def log_time(self) -> None:
        # A quarter of an hour on a day of the past two years: far from the 24 h a day.
        if self.task_ids:
            task_id = random.choice(self.task_ids)
            day = date.today() - timedelta(days=random.randint(1, 730))
            body = {"kind": "time", "date_worked": day.isoformat(), "hours": 0.25}
            self.call("POST", f"/tasks/{task_id}/logs", "log time", body=body)


class Bob(AcehubUser):
    """A member who only reads."""

    weight = 1
    username = "bob"

    @task(10)
    def read_tasks(self) -> None:
        self.my_tasks()

    @task(4)
    def report(self) -> None:
        self.time_report()

    @task(4)
    def logs(self) -> None:
        self.task_logs()


class Admin(AcehubUser):
    """The account's admin: the whole account's reports and logs, and small batch saves."""

    weight = 1
    username = "admin"

    @task(6)
    def read_tasks(self) -> None:
        self.my_tasks()

    @task(6)
    def report(self) -> None:
        self.time_report()

    @task(4)
    def logs(self) -> None:
        self.task_logs()

    @task(1)
    def batch_save(self) -> None:
        version = next(_batch_versions)
        body = {
            "projects": [
                {"ace_project_id": BATCH_PROJECT, "name": "Load project", "status": "Active"}
            ],
            "tasks": [
                {
                    "ace_task_id": BATCH_PROJECT * 100 + k,
                    "ace_project_id": BATCH_PROJECT,
                    "title": f"Load task {k} v{version}",
                    "status": "In progress",
                    "status_type": "in_progress",
                    "estimated_hours": 4.0,
                }
                for k in range(BATCH_TASKS)
            ],
        }
        self.call("POST", "/data/save", "batch save", body=body)


class SignIn(HttpUser):
    """Sign-in on its own, at a low rate: one user signing in and out every 5 s, in turn as
    each of the account's people (successful sign-ins never count against the limits)."""

    fixed_count = 1
    wait_time = constant(5)
    _people = ("alice", "bob", "admin")

    def on_start(self) -> None:
        self.turn = 0

    @task
    def sign_in_and_out(self) -> None:
        username = self._people[self.turn % len(self._people)]
        self.turn += 1
        body = {"account_id": ACCOUNT, "username": username, "password": PASSWORD}
        with self.client.post(
            "/user/login", name="sign-in", json=body, catch_response=True
        ) as response:
            if response.status_code == 429:
                limited["sign-in"] += 1
                response.success()
                return
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            token = response.json()["data"]["access_token"]
        with self.client.post(
            "/auth/logout",
            name="sign-out",
            headers={"Authorization": f"Bearer {token}"},
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
