"""`make load` / `make soak`: the API under a bounded mixed load, as real servers on PostgreSQL.

1. (Re)creates a PostgreSQL database (default ``acehub_load`` on 127.0.0.1:5432 as
   ``postgres``) and migrates it (``acehub migrate``).
2. Starts the ACE sandbox with its demo data (``acehub sandbox``), the API with two workers
   (``acehub serve --workers 2``) and one job worker (``acehub worker``), with
   ``SYNC_RUNNER=queue`` and a fixed ``SECRET_KEY``.
3. Mirrors the demo account once (``POST /sync/jobs`` as admin, polled until it succeeds).
4. Runs locust headless (``load/locustfile.py``) and prints, per operation, requests/s,
   p50/p95/p99 and the error rate; writes the same as JSON.
5. With ``--soak``, runs the same load for ``--minutes`` and every 30 s prints the resident
   memory and open files of every server process and the database's connections; at the end,
   first against last and whether they stayed flat.

Every server is stopped and the database dropped at the end, on failure and on Ctrl-C too.

    .venv/bin/python -m load.run --users 20 --seconds 60
    .venv/bin/python -m load.run --soak --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.connection.migrations import recreate_postgres_database

BACKEND = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SECRET = "load-secret-key-0123456789-0123456789-0123456789"
ACCOUNT = "demo"
PASSWORD = "demo-password"
SAMPLE_SECONDS = 30.0
# Flat: last <= first * FLAT_FACTOR + the metric's constant.
FLAT_FACTOR = 1.2
FLAT_CONSTANT = {"rss_mib": 10.0, "fds": 10.0, "db_connections": 5.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/")
    parser.add_argument("--database", default="acehub_load")
    parser.add_argument("--users", type=int, default=20, help="simulated users")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started a second")
    parser.add_argument("--seconds", type=int, default=60, help="length of a load run")
    parser.add_argument("--soak", action="store_true", help="a soak run: --minutes, sampled")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of a soak run")
    parser.add_argument(
        "--out",
        type=Path,
        default=BACKEND / "test-artifacts" / "load",
        help="directory of the JSON figures, locust's CSV files and the server logs",
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Servers:
    api_url: str
    sandbox_pid: int
    api_pid: int
    worker_pid: int


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def server(
    name: str, command: list[str], env: dict[str, str], out: Path, ready_url: str | None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process in a session of its own (stopped with its children); its output goes
    to `out/<name>.log`. Waits until `ready_url` answers 200."""
    log_path = out / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=BACKEND,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while ready_url is not None:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {log_path}")
                try:
                    if httpx.get(ready_url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {log_path}")
                time.sleep(0.2)
            yield process
        finally:
            _stop(process)


@contextmanager
def database(url: str) -> Iterator[None]:
    asyncio.run(recreate_postgres_database(url))
    try:
        yield
    finally:
        asyncio.run(recreate_postgres_database(url, drop_only=True))
        log(f"dropped {make_url(url).database}")


@contextmanager
def stack(options: argparse.Namespace, url: str) -> Iterator[Servers]:
    """Database, migrations, sandbox, API and job worker; all undone on the way out."""
    acehub = str(Path(sys.executable).with_name("acehub"))
    sandbox_port, api_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/"
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": url,
        "ACE_API_URL": sandbox_url,
        "SECRET_KEY": SECRET,
        "SYNC_RUNNER": "queue",
    }
    with ExitStack() as exits:
        exits.enter_context(database(url))
        subprocess.run(
            [acehub, "migrate"], cwd=BACKEND, env=env, check=True, stdout=subprocess.DEVNULL
        )
        log("database migrated")
        sandbox = exits.enter_context(
            server(
                "sandbox",
                [acehub, "sandbox", "--port", str(sandbox_port), "--log-level", "warning"],
                env,
                options.out,
                f"{sandbox_url}_sandbox/health",
            )
        )
        api = exits.enter_context(
            server(
                "api",
                [acehub, "serve", "--port", str(api_port), "--workers", "2"],
                env,
                options.out,
                f"{api_url}/health/ready",
            )
        )
        job_worker = exits.enter_context(
            server("worker", [acehub, "worker", "--name", "load"], env, options.out, None)
        )
        log(f"sandbox on {sandbox_url}, API on {api_url} (2 workers), job worker started")
        yield Servers(api_url, sandbox.pid, api.pid, job_worker.pid)


def mirror_demo_account(api_url: str) -> dict[str, Any]:
    """Sign in as the demo admin, queue a sync of the account and wait until it succeeded."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        login = client.post(
            "/user/login",
            json={"account_id": ACCOUNT, "username": "admin", "password": PASSWORD},
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
        started = client.post("/sync/jobs", json={})
        started.raise_for_status()
        job_id = started.json()["data"]["id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job: dict[str, Any] = client.get(f"/sync/jobs/{job_id}").json()["data"]
            if job["state"] == "succeeded":
                return job
            if job["state"] not in ("queued", "running"):
                raise RuntimeError(f"the sync ended {job['state']}: {job['errors']}")
            time.sleep(0.5)
        raise RuntimeError("the sync did not finish within 300 s")


# --- process figures -------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The direct children of a process, from /proc/<pid>/task/*/children."""
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in path.read_text().split())
        except OSError:
            continue
    return sorted(set(found))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def open_files(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def processes(servers: Servers) -> dict[str, int]:
    """Role -> pid: the serve process, its uvicorn workers (spawned children), the job worker
    and the sandbox."""
    roles = {"api-supervisor": servers.api_pid}
    workers = [pid for pid in children(servers.api_pid) if "spawn_main" in _cmdline(pid)]
    for index, pid in enumerate(workers, start=1):
        roles[f"api-worker-{index}"] = pid
    roles["job-worker"] = servers.worker_pid
    roles["sandbox"] = servers.sandbox_pid
    return roles


async def _connection_count(url: str) -> int:
    target = make_url(url)
    conn = await asyncpg.connect(
        host=target.host, port=target.port, user=target.username, database="postgres"
    )
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", target.database
        )
        return int(value)
    finally:
        await conn.close()


def sample(servers: Servers, url: str, elapsed: float) -> dict[str, Any]:
    roles = processes(servers)
    return {
        "elapsed_s": round(elapsed),
        "db_connections": asyncio.run(_connection_count(url)),
        "processes": {
            role: {"pid": pid, "rss_mib": rss_mib(pid), "fds": open_files(pid)}
            for role, pid in roles.items()
        },
    }


def print_sample(figures: dict[str, Any]) -> None:
    parts = [
        f"{role} {p['rss_mib']} MiB/{p['fds']} fds" for role, p in figures["processes"].items()
    ]
    print(
        f"[{figures['elapsed_s']:>5} s] db connections {figures['db_connections']}; "
        + "; ".join(parts),
        flush=True,
    )


def _flat(metric: str, first: float | None, last: float | None) -> bool:
    if first is None or last is None:
        return False
    return last <= first * FLAT_FACTOR + FLAT_CONSTANT[metric]


def soak_verdict(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First against last sample, metric by metric, and whether each stayed flat."""
    first, last = samples[0], samples[-1]
    rows: list[dict[str, Any]] = [
        {
            "what": "db connections",
            "metric": "db_connections",
            "first": first["db_connections"],
            "last": last["db_connections"],
        }
    ]
    for role, before in first["processes"].items():
        after = last["processes"].get(role, {})
        if after.get("pid") != before["pid"]:
            rows.append({"what": role, "metric": "pid", "first": before["pid"],
                         "last": after.get("pid"), "flat": False})  # fmt: skip
            continue
        for metric in ("rss_mib", "fds"):
            rows.append(
                {
                    "what": role,
                    "metric": metric,
                    "first": before[metric],
                    "last": after.get(metric),
                }
            )
    for row in rows:
        row.setdefault("flat", _flat(row["metric"], row["first"], row["last"]))
    return rows


# --- locust and its figures ------------------------------------------------------------------


def run_locust(
    options: argparse.Namespace, servers: Servers, seconds: int, url: str
) -> tuple[int, list[dict[str, Any]]]:
    """locust headless for `seconds`; in a soak, a sample every 30 s. Returns locust's exit
    code and the samples."""
    locust = str(Path(sys.executable).with_name("locust"))
    prefix = options.out / "locust"
    env = {**os.environ, "LOAD_LIMITED_FILE": str(options.out / "limited.json")}
    command = [
        locust, "-f", str(LOCUSTFILE), "--headless",
        "-u", str(options.users), "-r", str(options.spawn_rate), "-t", f"{seconds}s",
        "--host", servers.api_url, "--csv", str(prefix), "--only-summary",
        "--stop-timeout", "10", "--exit-code-on-error", "0",
    ]  # fmt: skip
    samples: list[dict[str, Any]] = []
    with (options.out / "locust.log").open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=BACKEND, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            started = time.monotonic()
            next_sample = started + SAMPLE_SECONDS
            while process.poll() is None:
                time.sleep(0.5)
                if options.soak and time.monotonic() >= next_sample:
                    figures = sample(servers, url, time.monotonic() - started)
                    samples.append(figures)
                    print_sample(figures)
                    next_sample += SAMPLE_SECONDS
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return process.returncode, samples


def _number(value: str) -> float:
    return 0.0 if value in ("", "N/A") else float(value)


def operation_table(out: Path) -> list[dict[str, Any]]:
    """Per operation, from locust's `_stats.csv` and the 429 counts of the locustfile."""
    limited_path = out / "limited.json"
    limited: dict[str, int] = json.loads(limited_path.read_text()) if limited_path.exists() else {}
    rows = []
    with (out / "locust_stats.csv").open(newline="") as stats:
        for entry in csv.DictReader(stats):
            requests = int(entry["Request Count"])
            failures = int(entry["Failure Count"])
            name = entry["Name"] if entry["Name"] != "Aggregated" else "all"
            rows.append(
                {
                    "operation": name,
                    "requests": requests,
                    "requests_per_s": round(_number(entry["Requests/s"]), 2),
                    "p50_ms": _number(entry["50%"]),
                    "p95_ms": _number(entry["95%"]),
                    "p99_ms": _number(entry["99%"]),
                    "failures": failures,
                    "error_rate": round(failures / requests, 4) if requests else 0.0,
                    "limited_429": (
                        sum(limited.values()) if name == "all" else limited.get(name, 0)
                    ),
                }
            )
    return rows


def failure_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "locust_failures.csv"
    if not path.exists():
        return []
    with path.open(newline="") as failures:
        return [
            {"operation": f["Name"], "error": f["Error"], "occurrences": int(f["Occurrences"])}
            for f in csv.DictReader(failures)
        ]


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'operation':<14} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'errors':>7} {'429':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['operation']:<14} {row['requests']:>8} {row['requests_per_s']:>7.2f} "
            f"{row['p50_ms']:>7.0f} {row['p95_ms']:>7.0f} {row['p99_ms']:>7.0f} "
            f"{row['error_rate']:>7.2%} {row['limited_429']:>5}"
        )


def print_verdict(rows: list[dict[str, Any]]) -> None:
    print(
        f"flat: last <= first x {FLAT_FACTOR} + {FLAT_CONSTANT['rss_mib']:g} MiB RSS, "
        f"{FLAT_CONSTANT['fds']:g} fds, {FLAT_CONSTANT['db_connections']:g} connections"
    )
    for row in rows:
        verdict = "flat" if row["flat"] else "GREW"
        print(f"  {row['what']:<15} {row['metric']:<15} {row['first']!s:>8} -> "
              f"{row['last']!s:<8} {verdict}")  # fmt: skip
    print("stayed flat" if all(r["flat"] for r in rows) else "did NOT stay flat")


# --- the run ---------------------------------------------------------------------------------


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    url = make_url(options.postgres_url).set(database=options.database)
    url_text = url.render_as_string(hide_password=False)
    seconds = round(options.minutes * 60) if options.soak else options.seconds
    started = time.monotonic()
    with stack(options, url_text) as servers:
        sync_started = time.monotonic()
        job = mirror_demo_account(servers.api_url)
        log(f"demo account mirrored in {time.monotonic() - sync_started:.1f} s: {job['counts']}")
        samples: list[dict[str, Any]] = []
        if options.soak:
            samples.append(sample(servers, url_text, 0))
            print_sample(samples[0])
        log(f"locust: {options.users} users for {seconds} s")
        code, during = run_locust(options, servers, seconds, url_text)
        samples.extend(during)
        if code != 0:
            raise RuntimeError(f"locust exited {code}; see {options.out / 'locust.log'}")
        rows = operation_table(options.out)
        failures = failure_lines(options.out)
        print()
        print(f"{options.users} users, {seconds} s ({'soak' if options.soak else 'load'})")
        print_table(rows)
        for failure in failures:
            print(
                f"  failure: {failure['operation']}: {failure['error']} x{failure['occurrences']}"
            )
        result: dict[str, Any] = {
            "mode": "soak" if options.soak else "load",
            "users": options.users,
            "seconds": seconds,
            "operations": rows,
            "failures": failures,
        }
        if options.soak:
            # The first sample is taken before the load; compare from the first under load.
            under_load = samples[1:] if len(samples) > 2 else samples
            verdict = soak_verdict(under_load)
            print()
            print_verdict(verdict)
            result["samples"] = samples
            result["verdict"] = verdict
            result["flat"] = all(r["flat"] for r in verdict)
        target = options.out / f"{result['mode']}.json"
        target.write_text(json.dumps(result, indent=2))
        print(f"\nfigures written to {target}")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


def cli() -> int:
    try:
        return main()
    except KeyboardInterrupt:
        log("interrupted: the servers are stopped and the database dropped")
        return 130


if __name__ == "__main__":
    sys.exit(cli())
