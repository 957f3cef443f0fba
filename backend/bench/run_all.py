"""`make bench`: run every benchmark (each in its own process) and print one table.

Every row is a figure, the ceiling it is measured against in the same run, their ratio and
the target. `--quick` shrinks the data sets for a fast smoke run; `--only NAME` runs one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Bench:
    name: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    rows: Callable[[dict[str, Any]], list[Row]]


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def _ace_client(f: dict[str, Any]) -> list[Row]:
    return [
        (
            f"ACE client paging ({f['tasks']:,} tasks, {f['page_size']}/page)",
            f"{f['client_rows_per_s']:,} rows/s",
            f"{f['bare_rows_per_s']:,} rows/s bare httpx",
            _ratio(f["client_to_bare_ratio"]),
            "(ceiling for sync)",
        )
    ]


def _sync(f: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        (
            f"Sync tasks phase ({f['tasks']:,} tasks)",
            f"{f['sync_tasks_phase_tasks_per_s']:,} tasks/s",
            f"{f['bare_paging_tasks_per_s']:,} tasks/s bare paging",
            _ratio(f["ratio"]),
            ">= 0.5",
        ),
        (
            f"Sync whole mirror ({f['ace_calls']:,} ACE calls)",
            f"{f['full_sync_seconds']} s",
            f"{f['bare_client_seconds']} s bare client, same calls",
            _ratio(f["mirror_to_bare_client_ratio"]),
            f">= {f['target_mirror_to_bare_client_ratio']}",
        ),
    ]
    for phase, p in f["phases"].items():
        calls = ", ".join(f"{n:,} {fct}" for fct, n in p["calls"].items()) or "no calls"
        rows.append(
            (
                f"Sync phase {phase} ({p['rows']:,} rows; {calls})",
                f"{p['mirror_seconds']} s, {p['cpu_us_per_row']} us CPU/row",
                f"{p['bare_client_seconds']} s bare client",
                # Phases of a call or two round to 0 s: no ratio worth showing.
                _ratio(p["bare_client_seconds"] / p["mirror_seconds"])
                if p["bare_client_seconds"] >= 0.05
                else "-",
                "(information)",
            )
        )
    rows.append(
        (
            "Sync with nothing changed upstream",
            f"{f['unchanged_sync_seconds']} s",
            "-",
            "-",
            "< 2 s",
        )
    )
    return rows


def _save(f: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for mix, kinds in f["mixes"].items():
        assignees = mix.split("_")[0]
        for kind, k in kinds.items():
            rows.append(
                (
                    f"POST /data/save, {kind}s (10k tasks, {assignees} assignee(s) each)",
                    f"{k['api_rows_per_second']:,} rows/s",
                    f"{k['ceiling_rows_per_second']:,} rows/s COPY + upsert",
                    _ratio(k["ratio"]),
                    f">= {f['ratio_target']}",
                )
            )
    memory = f["memory"]
    rows.append(
        (
            f"POST /data/save, {memory['rows']:,} rows in {memory['batches']} batches",
            f"peak RSS +{memory['peak_growth_over_bulk_mib']} MiB",
            f"{memory['peak_before_bulk_mib']} MiB before",
            "-",
            "flat",
        )
    )
    return rows


def _latency(result: dict[str, Any]) -> str:
    return (
        f"{result['requests_per_second']:,.0f} req/s, p50 {result['p50_ms']} / p99 "
        f"{result['p99_ms']} ms, {result['cpu_ms']} ms CPU/req"
    )


def _tasks_read(f: dict[str, Any]) -> list[Row]:
    api, ceiling, bare, options = f["api"], f["ceiling"], f["bare"], f["options"]
    connections = options["connections"]
    label = f"GET /tasks/{{user_id}} ({options['tasks']:,} tasks, {connections} conn.)"
    rows: list[Row] = [
        (
            label,
            _latency(api),
            f"{_latency(bare)} bare one-query read",
            _ratio(f["bare_ratio"]),
            ">= 0.5",
        ),
        (
            label,
            _latency(api),
            f"{_latency(ceiling)} same statement bare",
            _ratio(f["ratio"]),
            "(information)",
        ),
    ]
    light, bare_light = f.get("light"), f.get("bare_light")
    if light is not None and bare_light is not None:
        rows.append(
            (
                f"GET /tasks/{{user_id}} at {options['light_connections']} conn.",
                _latency(light),
                f"{_latency(bare_light)} bare one-query read",
                _ratio(light["requests_per_second"] / bare_light["requests_per_second"]),
                "(information)",
            )
        )
    return rows


def _fresh_read(f: dict[str, Any]) -> list[Row]:
    fresh, steady, options = f["fresh"], f["steady"], f["options"]
    return [
        (
            f"GET /tasks/{{user_id}} right after saving {options['tasks']:,} tasks",
            f"{fresh['requests_per_second']:,.0f} req/s (p50 {fresh['p50_ms']} ms, "
            f"p99 {fresh['p99_ms']} ms)",
            f"{steady['requests_per_second']:,.0f} req/s (p50 {steady['p50_ms']} ms, "
            f"p99 {steady['p99_ms']} ms) after VACUUM ANALYZE",
            _ratio(f["ratio"]),
            ">= 0.9",
        )
    ]


def _report(f: dict[str, Any]) -> list[Row]:
    time_report, exports, writes = f["time_report"], f["exports"], f["write_back"]
    manager, member = time_report["manager"], time_report["member"]
    rows: list[Row] = [
        (
            f"GET /reports/time project x month, manager ({f['logs']:,} logs, 2 years)",
            f"p50 {manager['p50_ms']} ms, p95 {manager['p95_ms']} ms",
            f"p95 {time_report['manager_sql']['p95_ms']} ms bare SQL (asyncpg)",
            _ratio(time_report["manager_ratio_p95"]),
            "< 300 ms p95",
        ),
        (
            f"GET /reports/time project x month, member ({f['member_logs']:,} own logs)",
            f"p50 {member['p50_ms']} ms, p95 {member['p95_ms']} ms",
            f"p95 {time_report['member_sql']['p95_ms']} ms bare SQL (asyncpg)",
            _ratio(time_report["member_ratio_p95"]),
            "(information)",
        ),
    ]
    for kind in ("csv", "xlsx"):
        tenth, whole = exports[f"{kind}_tenth"], exports[f"{kind}_all"]
        rows.append(
            (
                f"GET /reports/time?format={kind}, one row per log ({whole['rows']:,} rows)",
                f"{whole['rows_per_s']:,} rows/s, peak RSS {whole['rss_peak_mib']} MiB",
                f"peak RSS {tenth['rss_peak_mib']} MiB at {tenth['rows']:,} rows",
                "-",
                "flat",
            )
        )
    endpoint, ace = writes["endpoint"], writes["ace_saveworkitem"]
    rows.append(
        (
            f"POST /tasks/{{id}}/logs written back to ACE ({writes['writes']} logs)",
            f"p50 {endpoint['p50_ms']} ms, p99 {endpoint['p99_ms']} ms",
            f"p50 {ace['p50_ms']} ms ACE saveworkitem alone",
            _ratio(writes["ace_share_of_p50"]),
            "(information: ACE's share)",
        )
    )
    return rows


def _task_plans(f: dict[str, Any]) -> list[Row]:
    shapes, options = f["shapes"], f["options"]
    prepared = f["prepared_plans_after_20_runs"]
    runs = prepared["generic"] + prepared["custom"]
    return [
        (
            f"GET /tasks/{{user_id}} plans: {len(shapes)} filter/sort/cursor shapes "
            f"({options['tasks']:,} tasks)",
            f"{len(f['shapes_with_large_sequential_scans'])} shapes seq-scan a large table; "
            f"slowest {f['slowest_execution_ms']} ms ({f['slowest_shape']})",
            "-",
            "-",
            "0 shapes",
        ),
        (
            "GET /tasks/{user_id} prepared page statement",
            f"generic plan in {prepared['generic']} of {runs} runs",
            "-",
            "-",
            "(information)",
        ),
    ]


def _sync_reads(f: dict[str, Any]) -> list[Row]:
    idle, during, options = f["idle"], f["during"], f["options"]
    return [
        (
            f"Reads during a worker sync (p99), GET /tasks/{{user_id}} ({f['tasks']:,} tasks, "
            f"{options['connections']} conn.)",
            f"{during['p99_ms']} ms (p50 {during['p50_ms']} ms)",
            f"{idle['p99_ms']} ms p99 with no sync (p50 {idle['p50_ms']} ms)",
            _ratio(f["ratio_p99"]),
            "<= 2x",
        ),
        (
            f"Full sync in the worker under those reads "
            f"({during['syncs']} sync{'s' if during['syncs'] > 1 else ''})",
            f"{f['sync_during_reads_mean_seconds']} s",
            f"{f['sync_alone_seconds']} s with no reads",
            _ratio(f["sync_slowdown"]),
            "(information)",
        ),
    ]


BENCHES = [
    Bench(
        "ace_client",
        "bench.ace_client_bench",
        ("--tasks", "100000"),
        ("--tasks", "20000"),
        _ace_client,
    ),
    Bench("sync", "bench.sync_bench", ("--tasks", "100000"), ("--tasks", "20000"), _sync),
    Bench("save", "bench.save_bench", (), ("--rounds", "2", "--rows", "100000"), _save),
    Bench(
        "tasks_read",
        "bench.tasks_read_bench",
        ("--reuse",),
        ("--reuse", "--tasks", "100000", "--users", "1000", "--duration", "5"),
        _tasks_read,
    ),
    Bench(
        "task_plans",
        "bench.task_plans_bench",
        ("--reuse",),
        ("--reuse", "--tasks", "100000", "--users", "1000"),
        _task_plans,
    ),
    Bench(
        "fresh_read",
        "bench.fresh_read_bench",
        (),
        ("--tasks", "100000", "--duration", "5"),
        _fresh_read,
    ),
    Bench(
        "report",
        "bench.report_bench",
        (),
        ("--logs", "100000", "--tasks", "5000", "--users", "100", "--writes", "50"),
        _report,
    ),
    Bench(
        "sync_reads",
        "bench.sync_reads_bench",
        ("--tasks", "100000"),
        ("--tasks", "10000"),
        _sync_reads,
    ),
]


def run(bench: Bench, quick: bool) -> list[Row]:
    args = bench.quick if quick else bench.full
    command = [sys.executable, "-m", bench.module, *args, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-3000:])
        return [(bench.name, "FAILED", f"exit {done.returncode}", "-", "-")]
    print(f"{bench.name}: done in {elapsed:.0f} s", file=sys.stderr)
    return bench.rows(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data sets")
    parser.add_argument("--only", choices=[b.name for b in BENCHES], action="append")
    args = parser.parse_args()
    rows: list[Row] = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        rows.extend(run(bench, args.quick))
    header: Row = ("figure", "measured", "ceiling (same run)", "ratio", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    if any(row[1] == "FAILED" for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
