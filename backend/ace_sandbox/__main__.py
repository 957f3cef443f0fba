"""``python -m ace_sandbox [--port 8100] [--bench] [--max-rows-per-page N] [--fault k=v ...]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date

import orjson

from ace_sandbox.data import BENCH_SIZE, DEFAULT_SEED, DEFAULT_TODAY, DatasetSize
from ace_sandbox.faults import FAULT_NAMES
from ace_sandbox.server import run


def _fault(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or name.strip() not in FAULT_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected name=value with name one of: {', '.join(FAULT_NAMES)}"
        )
    try:
        parsed: object = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _today(text: str) -> date:
    return date.today() if text == "today" else date.fromisoformat(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ace_sandbox", description="AceProject API sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--bench", action="store_true", help="add the 'bench' benchmark account")
    p.add_argument("--bench-account", default="bench")
    p.add_argument("--projects", type=int, default=BENCH_SIZE.projects)
    p.add_argument("--tasks", type=int, default=BENCH_SIZE.tasks)
    p.add_argument("--users", type=int, default=BENCH_SIZE.users)
    p.add_argument("--time-entries", type=int, default=BENCH_SIZE.time_entries)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument(
        "--today",
        type=_today,
        default=DEFAULT_TODAY,
        help="YYYY-MM-DD or 'today': the day due dates are spread around",
    )
    p.add_argument("--guid-idle-seconds", type=float, default=8 * 3600.0)
    p.add_argument("--guid-max-age-seconds", type=float, default=None)
    p.add_argument("--empty-dates-as-string", action="store_true")
    p.add_argument(
        "--max-rows-per-page",
        type=_positive,
        default=None,
        metavar="N",
        help="answer at most N rows per getusers/getprojects/gettasks page",
    )
    p.add_argument(
        "--task-rows-without-status-id",
        action="store_true",
        help="leave TASK_STATUS_ID off gettasks rows (statuses match by name only)",
    )
    p.add_argument(
        "--forcombo-keeps-user-filters",
        action="store_true",
        help="let gettasks&forcombo=true honour filterassigneduserid/filterrevieweruserid",
    )
    p.add_argument(
        "--getusers-admin-only",
        action="store_true",
        help="refuse getusers to normal users (fail 4004)",
    )
    p.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="NAME=VALUE",
        help="set a fault switch at start (JSON value), repeatable",
    )
    p.add_argument("--log-level", default="info")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    bench = (
        DatasetSize(args.projects, args.tasks, args.users, args.time_entries)
        if args.bench
        else None
    )
    run(
        args.host,
        args.port,
        bench=bench,
        bench_account=args.bench_account,
        seed=args.seed,
        today=args.today,
        faults=dict(args.fault),
        guid_idle_seconds=args.guid_idle_seconds,
        guid_max_age_seconds=args.guid_max_age_seconds,
        empty_dates_as_string=args.empty_dates_as_string,
        max_rows_per_page=args.max_rows_per_page,
        task_rows_without_status_id=args.task_rows_without_status_id,
        forcombo_ignores_user_filters=not args.forcombo_keeps_user_filters,
        getusers_admin_only=args.getusers_admin_only,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
