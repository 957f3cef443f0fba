"""The generator: demo contents, determinism, sizes, and the store's indexes."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ace_sandbox.data import (
    ACME_SPEC,
    DEFAULT_TODAY,
    DEMO_PASSWORD,
    DEMO_SPEC,
    AccountSpec,
    DatasetSize,
    build_account,
    generate,
)
from ace_sandbox.models import STATUS_COMPLETED, STATUS_IN_PROGRESS, STATUS_WAITING, Task
from ace_sandbox.store import OP_ON_OR_AFTER, Account, Store


def _snapshot(account: Account) -> tuple[object, ...]:
    return (
        sorted(
            (u.user_id, u.username, u.first_name, u.last_name, u.date_modified)
            for u in account.users.values()
        ),
        sorted(
            (p.project_id, p.project_name, p.date_created, p.project_status_id)
            for p in account.projects.values()
        ),
        sorted(
            (t.task_id, t.project_id, t.task_resume, t.task_status_id, t.date_modified,
             t.date_expected_end, t.actual_hours)
            for t in account.tasks.values()
        ),
        sorted(
            (tid, uid, a.is_assignee, a.is_reviewer, a.assigned_hours)
            for tid, assigned in account.assignments.items()
            for uid, a in assigned.items()
        ),
        sorted((k, e.user_id, e.task_id, e.total) for k, e in account.time_entries.items()),
    )  # fmt: skip


KINDS = {STATUS_WAITING, STATUS_COMPLETED, STATUS_IN_PROGRESS}


def _status_type(account: Account, task: Task) -> int:
    """The CompletedStatus code (0 waiting, 1 completed, 2 in progress) of a task."""
    return account.task_statuses[task.task_status_id].completed_status


def test_demo_account_users() -> None:
    demo = generate()["demo"]
    users = {u.username: u for u in demo.users.values()}
    assert set(users) == {"admin", "alice", "bob"}
    assert users["admin"].access_level == 2
    assert users["alice"].access_level == users["bob"].access_level == 1
    assert all(u.password == DEMO_PASSWORD == "demo-password" for u in users.values())
    assert all(u.access_status == 1 and u.active for u in users.values())
    assert [users[n].user_id for n in ("admin", "alice", "bob")] == [1, 2, 3]


def test_demo_account_projects_tasks_and_time() -> None:
    demo = generate()["demo"]
    assert sorted(demo.projects) == [1000, 1001, 1002, 1003]
    assert len(demo.tasks) == 24
    assert len(demo.time_entries) == 60
    today = DEFAULT_TODAY
    for user_id in (2, 3):
        mine = [demo.tasks[t] for t in demo.tasks_by_assignee[user_id]]
        assert {_status_type(demo, t) for t in mine} == KINDS
        overdue = [
            t
            for t in mine
            if _status_type(demo, t) != STATUS_COMPLETED
            and t.date_expected_end is not None
            and t.date_expected_end.date() < today
        ]
        assert overdue
        assert demo.time_by_user[user_id]
    assert all(e.date_worked.date() <= today for e in demo.time_entries.values())
    assert all(
        demo.assignments[e.task_id][e.user_id].is_assignee for e in demo.time_entries.values()
    )
    for task in demo.tasks.values():
        hours = sum(e.total for e in demo.time_entries.values() if e.task_id == task.task_id)
        assert task.actual_hours == pytest.approx(hours)
        assert task.date_modified >= task.date_created
        assert task.date_modified <= datetime.combine(today, datetime.max.time())


def test_acme_account() -> None:
    acme = generate()["acme"]
    users = {u.username: u for u in acme.users.values()}
    assert set(users) == {"carol", "dave"}
    assert users["carol"].access_level == 2
    assert users["dave"].access_level == 1
    assert all(u.password == DEMO_PASSWORD for u in users.values())
    assert sorted(acme.projects) == [1000, 1001, 1002]
    assert min(acme.tasks) == 10000
    assert all(2 in assigned for assigned in acme.assignments.values())


def test_same_seed_same_data_and_other_seed_differs() -> None:
    first, again = generate(), generate()
    for name in ("demo", "acme"):
        assert _snapshot(first[name]) == _snapshot(again[name])
    other = generate(seed=1)
    assert _snapshot(other["demo"]) != _snapshot(first["demo"])


def test_today_moves_the_dates() -> None:
    later = generate(today=date(2026, 1, 5))["demo"]
    base = generate()["demo"]
    assert max(e.date_worked for e in later.time_entries.values()).date() <= date(2026, 1, 5)
    assert max(t.date_modified for t in later.tasks.values()) > max(
        t.date_modified for t in base.tasks.values()
    )


def test_medium_benchmark_account() -> None:
    size = DatasetSize(projects=200, tasks=20_000, users=100, time_entries=40_000)
    store = generate(size, include_demo=False, bench_account="medium")
    assert set(store.accounts) == {"medium"}
    account = store["medium"]
    assert len(account.users) == 100
    assert len(account.projects) == 200
    assert len(account.tasks) == 20_000
    assert len(account.time_entries) == 40_000
    admins = [u for u in account.users.values() if u.is_admin]
    assert [u.username for u in admins] == ["admin"]
    assert account.users[2].username == "user0002"
    assert all(u.password == DEMO_PASSWORD for u in account.users.values())
    assert sum(len(v) for v in account.tasks_by_project.values()) == 20_000
    types = {_status_type(account, t) for t in account.tasks.values()}
    assert types == KINDS
    per_project = {_status_type(account, account.tasks[t]) for t in account.tasks_by_project[1000]}
    assert per_project == KINDS
    lengths = {len(account.task_status_list(p)) for p in account.projects}
    assert len(lengths) > 1
    some_user = next(iter(account.tasks_by_assignee))
    for task_id in account.tasks_by_assignee[some_user]:
        assert account.assignments[task_id][some_user].is_assignee
    since = date(2025, 5, 1)
    selected = account.task_modified_index.select(OP_ON_OR_AFTER, since)
    assert selected == {
        t.task_id for t in account.tasks.values() if t.date_modified.date() >= since
    }


def test_build_account_from_spec_is_independent_of_store() -> None:
    account = build_account(DEMO_SPEC)
    assert account.account_id == "demo"
    assert account.version == 0
    assert _snapshot(account) == _snapshot(generate()["demo"])
    store = Store([account, build_account(ACME_SPEC)])
    assert store.account("DEMO") is account
    assert store.account("nope") is None


def test_mutations_keep_indexes_right() -> None:
    demo = build_account(DEMO_SPEC)
    version = demo.version
    stamp = datetime(2025, 9, 1, 12)
    demo.update_task(10000, task_resume="Changed", at=stamp)
    assert demo.tasks[10000].date_modified == stamp
    assert 10000 in demo.task_modified_index.select(5, stamp.date())
    assert demo.version > version
    demo.update_task(10000, project_id=1003)
    assert 10000 in demo.tasks_by_project[1003]
    assert 10000 not in demo.tasks_by_project[1000]
    demo.assign(10001, 3, is_reviewer=True, is_assignee=False, at=stamp)
    assert 10001 in demo.tasks_by_reviewer[3]
    assert 10001 not in demo.tasks_by_assignee.get(3, set())
    demo.assign(10001, 3, at=stamp)  # re-flag
    assert 10001 in demo.tasks_by_assignee[3]
    assert 10001 not in demo.tasks_by_reviewer[3]
    assert demo.unassign(10001, 3)
    assert not demo.unassign(10001, 3)
    demo.delete_task(10001)
    assert 10001 not in demo.tasks
    assert 10001 not in demo.tasks_by_assignee.get(2, set())
    with pytest.raises(KeyError):
        demo.update_task(10001, task_resume="gone")
    with pytest.raises(ValueError, match="unknown task field"):
        demo.update_task(10000, nope=1)
    user = demo.deactivate_user(3, at=stamp)
    assert (user.access_status, user.active, user.date_modified) == (3, False, stamp)
    assert demo.find_login("BOB") is user
    assert demo.find_login("bob@demo.example.com") is user


def test_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="negative"):
        DatasetSize(tasks=-1)
    with pytest.raises(ValueError, match="at least one user"):
        build_account(AccountSpec("empty", "Empty", DatasetSize(1, 1, 0, 0)))


def test_tiny_bench_account_with_only_the_admin() -> None:
    account = generate(DatasetSize(2, 5, 1, 3), include_demo=False)["bench"]
    assert [u.username for u in account.users.values()] == ["admin"]
    assert len(account.tasks) == 5
    assert len(account.time_entries) == 3


def test_each_project_has_its_own_status_list() -> None:
    demo = generate()["demo"]
    lists = {p: demo.task_status_list(p) for p in demo.projects}
    ids = [s.task_status_id for statuses in lists.values() for s in statuses]
    assert len(ids) == len(set(ids))  # one account-wide id sequence
    assert len({len(statuses) for statuses in lists.values()}) > 1
    for statuses in lists.values():
        assert {s.completed_status for s in statuses} == KINDS
        assert [s.sort_order for s in statuses] == sorted(s.sort_order for s in statuses)
    kinds_of_review = {
        s.completed_status for st in lists.values() for s in st if s.name == "Review"
    }
    assert kinds_of_review == {STATUS_WAITING, STATUS_IN_PROGRESS}
    completed_names = {s.name for st in lists.values() for s in st if s.completed}
    assert {"Done", "Cancelled"} <= completed_names
    # ids 1/2/3 do not spell waiting/in progress/completed
    by_id = {s.task_status_id: s.completed_status for st in lists.values() for s in st}
    assert [by_id[i] for i in (1, 2, 3)] != [STATUS_WAITING, STATUS_IN_PROGRESS, STATUS_COMPLETED]
    for task in demo.tasks.values():
        assert task.task_status_id in {s.task_status_id for s in lists[task.project_id]}
    assert demo.task_status_list(9999) == []


def test_percent_done_is_tenths() -> None:
    demo = generate()["demo"]
    for task in demo.tasks.values():
        kind = _status_type(demo, task)
        assert isinstance(task.pourcentage_done, int)
        assert 0 <= task.pourcentage_done <= 10
        if kind == STATUS_COMPLETED:
            assert task.pourcentage_done == 10
        elif kind == STATUS_WAITING:
            assert task.pourcentage_done == 0
    assert all(0 <= p.pourcentage <= 100 for p in demo.projects.values())
    assert any(p.pourcentage > 10 for p in demo.projects.values())


def test_set_task_status_to_an_unlisted_status() -> None:
    demo = generate()["demo"]
    listed = {s.task_status_id for s in demo.task_status_list(1000)}
    other = next(s for s in demo.task_status_list(1001) if s.task_status_id not in listed)
    task = next(t for t in demo.tasks.values() if t.project_id == 1000)
    before = task.date_modified
    status = demo.set_task_status(task.task_id, other.task_status_id)
    assert status == other
    assert demo.tasks[task.task_id].task_status_id == other.task_status_id
    assert demo.tasks[task.task_id].date_modified > before
    new = demo.set_task_status(task.task_id, 999, "Parked")
    assert (new.task_status_id, new.name) == (999, "Parked")
    assert all(999 != s.task_status_id for p in demo.projects for s in demo.task_status_list(p))
    with pytest.raises(ValueError, match="already named"):
        demo.set_task_status(task.task_id, 999, "Renamed")
