"""How fast `GET /tasks/{user_id}` serves pages, against a bare asyncpg + orjson ceiling.

1. (Re)creates a PostgreSQL database (default ``acehub_bench_read`` on 127.0.0.1:5432 as
   ``postgres``), migrates it, and loads ``--tasks`` tasks (default 1,000,000) in
   ``--projects`` projects with ``--users`` users (default 10,000) by COPY: every task has one
   assignee and 30 % also a reviewer (about 130 tasks per user).
2. Creates a local manager, starts the API with the production server command
   (``acehub serve --workers N``: uvicorn, uvloop, httptools; ``DB_POOL_SIZE`` from
   ``--pool-size``) and signs in through ``POST /auth/login`` for a real bearer token.
3. Drives ``GET /tasks/{user_id}?limit=50`` with ``wrk`` (``--connections`` 32), a Lua script
   picking a random user per request, after a warm-up; then the same against
   ``bench/ceiling_app.py`` under the same server and worker count.
4. Prints requests/s, p50/p99 and CPU per request (server, database backends, wrk) of both,
   the ratio (target >= 0.7) and the API's p99 (target < 25 ms), or with ``--json`` one JSON
   line of figures and options. Rounds alternate between the two; the best of each counts.
5. Prints the floor no server reaches at that load: the ceiling's mean latency, connections /
   its requests/s (Little's law), and the API's latency below saturation
   (``--light-connections``, default 8).

    uv run python -m bench.tasks_read_bench                      # the full run
    uv run python -m bench.tasks_read_bench --tasks 100000 --users 1000 --duration 5 --json
    uv run python -m bench.tasks_read_bench --reuse              # keep loaded data

Needs ``wrk`` on the PATH (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt

from app.auth.security import hash_password
from app.connection import migrations

BACKEND = Path(__file__).resolve().parents[1]
ACCOUNT = "bench"
MANAGER = "bench-manager"
PASSWORD = "bench-password-0123456789"
SECRET = "bench-secret-key-0123456789-0123456789-0123456789"

STATUSES = [
    ("Not started", "waiting"),
    ("Waiting on client", "waiting"),
    ("In progress", "in_progress"),
    ("In review", "in_progress"),
    ("Done", "completed"),
]
PRIORITIES = ["1 - High", "2 - Normal", "3 - Low"]


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    # CPU spent per request by the server processes, the database backends serving them and
    # wrk: unlike requests/s, barely moved by other work on the machine.
    server_cpu_ms: float = 0.0
    database_cpu_ms: float = 0.0
    wrk_cpu_ms: float = 0.0

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu_ms + self.database_cpu_ms + self.wrk_cpu_ms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="acehub_bench_read")
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--reuse", action="store_true", help="keep the data if already loaded")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--pool-size",
        type=int,
        default=20,
        help="DB_POOL_SIZE of each worker (and of the ceiling): at least the requests one "
        "worker serves at once, or SQLAlchemy closes and reopens its overflow connections",
    )
    parser.add_argument(
        "--light-connections",
        type=int,
        default=8,
        help="also measure the API's latency at this many connections (0: skip)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per target")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per target")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds per target (best counts)"
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def log(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------


async def recreate_database(server_url: str, name: str, *, reuse: bool) -> bool:
    """Create the database; with `reuse`, keep an existing one. True when it is new."""
    conn = await asyncpg.connect(f"{server_url}/postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and reuse:
            return False
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def loaded_counts(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        tasks = await conn.fetchval("SELECT count(*) FROM tasks WHERE account_id = $1", ACCOUNT)
        users = await conn.fetchval(
            "SELECT count(*) FROM users WHERE account_id = $1 AND auth_source = 'ace'", ACCOUNT
        )
        return int(tasks), int(users)
    finally:
        await conn.close()


def _task_records(count: int, projects: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    for task_id in range(1, count + 1):
        status, status_type = STATUSES[rng.randrange(len(STATUSES))]
        start = today + timedelta(days=rng.randint(-400, 200))
        end = None if rng.random() < 0.1 else start + timedelta(days=rng.randint(1, 90))
        modified = now - timedelta(minutes=rng.randint(0, 500_000))
        estimated = round(rng.uniform(1, 40), 1)
        yield (
            task_id,
            ACCOUNT,
            task_id,
            (task_id - 1) % projects + 1,
            f"T-{task_id}",
            f"Task {task_id}: {rng.choice(['design', 'build', 'test', 'ship'])} step",
            status,
            status_type,
            rng.choice(PRIORITIES),
            "Task",
            estimated,
            round(estimated * rng.random(), 1),
            100.0 if status_type == "completed" else float(rng.choice([0, 25, 50, 75])),
            start,
            end,
            modified - timedelta(days=30),
            modified,
            now,
        )


def _assignee_records(tasks: int, users: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 1)
    for task_id in range(1, tasks + 1):
        assignee = rng.randint(1, users)
        yield (task_id, assignee, True, False, 4.0)
        if rng.random() < 0.3:
            reviewer = rng.randint(1, users)
            if reviewer != assignee:
                yield (task_id, reviewer, False, True, None)


async def load_data(url: str, *, tasks: int, users: int, projects: int, quiet: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "users",
            columns=["id", "guid", "account_id", "ace_user_id", "username", "role", "auth_source"],
            records=(
                (i, uuid.uuid4(), ACCOUNT, i, f"user{i:05d}", "member", "ace")
                for i in range(1, users + 1)
            ),
        )
        await conn.copy_records_to_table(
            "projects",
            columns=["id", "account_id", "ace_project_id", "name", "status", "synced_at"],
            records=(
                (i, ACCOUNT, i, f"Project {i}", "Active", datetime.now(UTC))
                for i in range(1, projects + 1)
            ),
        )
        await conn.copy_records_to_table(
            "tasks",
            columns=[
                "id",
                "account_id",
                "ace_task_id",
                "project_id",
                "number",
                "title",
                "status",
                "status_type",
                "priority",
                "type",
                "estimated_hours",
                "actual_hours",
                "percent_done",
                "expected_start",
                "expected_end",
                "ace_created_at",
                "ace_modified_at",
                "synced_at",
            ],
            records=_task_records(tasks, projects, seed=5),
        )
        await conn.copy_records_to_table(
            "task_assignees",
            columns=["task_id", "user_id", "is_assignee", "is_reviewer", "assigned_hours"],
            records=_assignee_records(tasks, users, seed=5),
        )
        for table in ("users", "projects", "tasks"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute("VACUUM ANALYZE")
        log(f"loaded in {time.perf_counter() - started:.1f} s", quiet=quiet)
    finally:
        await conn.close()


def prepare_database(options: argparse.Namespace, *, quiet: bool) -> str:
    """The bench database, migrated and loaded as `options` ask (kept with `--reuse` when it
    already holds that many tasks and users); returns its URL."""
    url = f"{options.database_url}/{options.database}"
    created = asyncio.run(
        recreate_database(options.database_url, options.database, reuse=options.reuse)
    )
    migrations.upgrade(url)
    if created or asyncio.run(loaded_counts(url)) != (options.tasks, options.users):
        if not created:
            asyncio.run(recreate_database(options.database_url, options.database, reuse=False))
            migrations.upgrade(url)
        log(f"loading {options.tasks} tasks, {options.users} users ...", quiet=quiet)
        asyncio.run(
            load_data(
                url,
                tasks=options.tasks,
                users=options.users,
                projects=options.projects,
                quiet=quiet,
            )
        )
    return url


async def create_manager(url: str) -> str:
    """A local manager of the bench account (replaced on each run); returns its guid."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "DELETE FROM users WHERE account_id = $1 AND username = $2", ACCOUNT, MANAGER
        )
        guid = uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (guid, account_id, username, role, role_set_locally, auth_source,"
            " password_hash) VALUES ($1, $2, $3, 'manager', true, 'local', $4)",
            guid,
            ACCOUNT,
            MANAGER,
            hash_password(PASSWORD),
        )
        return str(guid)
    finally:
        await conn.close()


# --- servers and load --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(
    command: list[str], env: dict[str, str], health_url: str, log_path: Path
) -> Iterator[int]:
    """Start `command` in its own process group; yields the group id once `health_url` answers."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=BACKEND,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited; see {log_path}")
                try:
                    if httpx.get(health_url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start; see {log_path}")
                time.sleep(0.2)
            yield process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after `(comm)`


def process_cpu_seconds(*, group: int | None = None, database: str | None = None) -> float:
    """CPU seconds (user + system) of the live processes in a process group, or of the
    PostgreSQL backends connected to a database."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fields = _proc_stat(pid)
        if fields is None:
            continue
        if group is not None and int(fields[2]) != group:
            continue
        if database is not None:
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


WRK_SCRIPT = """
local first, last = %(first)d, %(last)d
local headers = {["Authorization"] = "Bearer %(token)s"}
function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) + (%(seed)d))
end
function request()
  return wrk.format("GET", "%(prefix)s" .. math.random(first, last) .. "?limit=50", headers)
end
function done(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"non_2xx\\": %%d, "
    .. "\\"socket_errors\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def run_wrk(
    base_url: str,
    *,
    token: str,
    users: int,
    connections: int,
    threads: int,
    seconds: int,
    prefix: str = "/tasks/",
) -> LoadResult:
    values = {"first": 1, "last": users, "token": token, "seed": os.getpid(), "prefix": prefix}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % values)
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    match = re.search(r"WRK_JSON (\{.*\})", output)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    figures = json.loads(match.group(1))
    return LoadResult(
        requests_per_second=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        requests=figures["requests"],
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
    )


def measure(
    base_url: str,
    token: str,
    options: argparse.Namespace,
    *,
    group: int,
    warm: bool,
    connections: int | None = None,
    prefix: str = "/tasks/",
) -> LoadResult:
    load: dict[str, Any] = {
        "prefix": prefix,
        "token": token,
        "users": options.users,
        "connections": connections or options.connections,
        "threads": options.threads,
    }
    if warm and options.warmup:
        run_wrk(base_url, seconds=options.warmup, **load)
    server_before = process_cpu_seconds(group=group)
    database_before = process_cpu_seconds(database=options.database)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_wrk(base_url, seconds=options.duration, **load)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_request = 1000 / max(result.requests, 1)
    return replace(
        result,
        server_cpu_ms=(process_cpu_seconds(group=group) - server_before) * per_request,
        database_cpu_ms=(
            (process_cpu_seconds(database=options.database) - database_before) * per_request
        ),
        wrk_cpu_ms=(
            children.ru_utime
            + children.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime
        )
        * per_request,
    )


def same_page(api: httpx.Response, ceiling: httpx.Response) -> bool:
    """Both answer the same tasks (the ceilings compute no cursor)."""
    api_data, ceiling_data = api.json()["data"], ceiling.json()["data"]
    return bool(
        api_data["items"] == ceiling_data["items"]
        and api_data["total"] == ceiling_data["total"]
        and api_data["synced_through"] == ceiling_data["synced_through"]
    )


def summary(result: LoadResult) -> dict[str, Any]:
    return {**asdict(result), "cpu_ms": round(result.cpu_ms, 3)}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    quiet = options.json
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    url = prepare_database(options, quiet=quiet)
    guid = asyncio.run(create_manager(url))

    api_port = options.port or free_port()
    ceiling_port = free_port()
    api_base, ceiling_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ceiling_port}"
    acehub = str(Path(sys.executable).with_name("acehub"))
    # The production server command (see README): uvicorn with uvloop and httptools.
    api_command = [acehub, "serve", "--host", "127.0.0.1", "--port", str(api_port)]
    api_command += ["--workers", str(options.workers)]
    api_env = {
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "LOG_FORMAT": "json",
        "DB_POOL_SIZE": str(options.pool_size),
    }
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    ceiling_command = [uvicorn, "bench.ceiling_app:app", "--host", "127.0.0.1"]
    ceiling_command += ["--port", str(ceiling_port), "--workers", str(options.workers)]
    ceiling_command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    ceiling_env = {
        "BENCH_DATABASE_URL": url,
        "BENCH_ACCOUNT": ACCOUNT,
        "BENCH_CALLER_GUID": guid,
        "BENCH_POOL_SIZE": str(options.pool_size),
    }
    logs = Path(tempfile.mkdtemp(prefix="acehub-bench-"))
    probe_user = options.users // 2 or 1

    with ExitStack() as servers:
        api_group = servers.enter_context(
            server(api_command, api_env, f"{api_base}/health/live", logs / "api.log")
        )
        login = httpx.post(
            f"{api_base}/auth/login",
            json={"account_id": ACCOUNT, "username": MANAGER, "password": PASSWORD},
        )
        login.raise_for_status()
        token = login.json()["data"]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # The caller lookup also checks the token's login session: the ceiling looks up the
        # same one.
        ceiling_env["BENCH_CALLER_SID"] = jwt.decode(token, options={"verify_signature": False})[
            "sid"
        ]
        ceiling_group = servers.enter_context(
            server(ceiling_command, ceiling_env, f"{ceiling_base}/health", logs / "ceiling.log")
        )
        api_probe = httpx.get(f"{api_base}/tasks/{probe_user}?limit=50", headers=headers)
        api_probe.raise_for_status()
        for prefix in ("/tasks/", "/one/tasks/"):
            ceiling_probe = httpx.get(f"{ceiling_base}{prefix}{probe_user}?limit=50")
            ceiling_probe.raise_for_status()
            if not same_page(api_probe, ceiling_probe):
                raise RuntimeError(f"the ceiling's {prefix} does not answer the API's tasks")
        # Rounds alternate between the two, so a noisy neighbour hurts both alike.
        api_rounds: list[LoadResult] = []
        ceiling_rounds: list[LoadResult] = []
        bare_rounds: list[LoadResult] = []
        for number in range(options.rounds):
            log(f"round {number + 1}: API ({options.workers} workers) ...", quiet=quiet)
            api_rounds.append(measure(api_base, token, options, group=api_group, warm=number == 0))
            log(f"round {number + 1}: ceiling ({options.workers} workers) ...", quiet=quiet)
            ceiling_rounds.append(
                measure(ceiling_base, token, options, group=ceiling_group, warm=number == 0)
            )
            log(f"round {number + 1}: bare one-query read ...", quiet=quiet)
            bare_rounds.append(
                measure(
                    ceiling_base,
                    token,
                    options,
                    group=ceiling_group,
                    warm=number == 0,
                    prefix="/one/tasks/",
                )
            )
        # The same API below saturation: the latency a client sees when requests do not queue.
        light = bare_light = None
        if options.light_connections:
            log(f"bare one-query read at {options.light_connections} connections ...", quiet=quiet)
            bare_light = measure(
                ceiling_base,
                token,
                options,
                group=ceiling_group,
                warm=False,
                connections=options.light_connections,
                prefix="/one/tasks/",
            )
            log(f"API at {options.light_connections} connections ...", quiet=quiet)
            light = measure(
                api_base,
                token,
                options,
                group=api_group,
                warm=False,
                connections=options.light_connections,
            )
    api = max(api_rounds, key=lambda result: result.requests_per_second)
    ceiling = max(ceiling_rounds, key=lambda result: result.requests_per_second)
    bare = max(bare_rounds, key=lambda result: result.requests_per_second)
    bare_ratio = api.requests_per_second / bare.requests_per_second
    # Little's law: with `connections` requests always in flight, the mean latency is
    # connections / throughput, so no p99 can be below this even for the ceiling.
    ceiling_mean_ms = 1000 * options.connections / ceiling.requests_per_second

    ratio = api.requests_per_second / ceiling.requests_per_second
    cpu_ratio = ceiling.cpu_ms / api.cpu_ms if api.cpu_ms else 0.0
    report = {
        "benchmark": "tasks_read",
        "api": summary(api),
        "ceiling": summary(ceiling),
        "bare": summary(bare),
        "ratio": round(ratio, 3),
        "bare_ratio": round(bare_ratio, 3),
        "bare_ratio_target": 0.5,
        "cpu_ratio": round(cpu_ratio, 3),
        "ceiling_mean_latency_ms": round(ceiling_mean_ms, 2),
        "light": None if light is None else summary(light),
        "bare_light": None if bare_light is None else summary(bare_light),
        "ratio_target": 0.7,
        "p99_target_ms": 25.0,
        "passed": ratio >= 0.7 and bare_ratio >= 0.5 and api.non_2xx == 0,
        "load_average": os.getloadavg()[0],
        "options": {
            "tasks": options.tasks,
            "users": options.users,
            "projects": options.projects,
            "workers": options.workers,
            "db_pool_size": options.pool_size,
            "connections": options.connections,
            "light_connections": options.light_connections,
            "wrk_threads": options.threads,
            "duration_s": options.duration,
            "rounds": options.rounds,
            "page_size": 50,
            "server": "acehub serve: uvicorn, uvloop, httptools",
            "load_tool": "wrk",
            "cpus": os.cpu_count(),
            "date": date.today().isoformat(),
        },
    }
    if options.json:
        print(json.dumps(report))
        return 0
    print(
        f"GET /tasks/{{user_id}}: {options.tasks} tasks, {options.users} users, 50 a page, "
        f"{options.workers} workers, {options.connections} connections (wrk), "
        f"best of {options.rounds} rounds of {options.duration} s"
    )
    print(f"  {'':8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7}   CPU ms per request")
    for name, result in (("API", api), ("ceiling", ceiling), ("bare", bare)):
        print(
            f"  {name:8} {result.requests_per_second:7.0f} {result.p50_ms:7.2f} "
            f"{result.p99_ms:7.2f} {result.non_2xx:7d}   {result.cpu_ms:.2f} (server "
            f"{result.server_cpu_ms:.2f}, database {result.database_cpu_ms:.2f}, "
            f"wrk {result.wrk_cpu_ms:.2f})"
        )
    print(f"  ratio    {ratio:7.3f}  (target >= 0.7; by CPU per request: {cpu_ratio:.3f})")
    print(f"  bare     {bare_ratio:7.3f}  (API / bare one-query read, target >= 0.5)")
    print(f"  API p99  {api.p99_ms:7.2f} ms (target < 25 ms)")
    print(
        f"  floor    {ceiling_mean_ms:7.2f} ms: the ceiling's mean latency at "
        f"{options.connections} connections ({options.connections} / its req/s)"
    )
    if light is not None:
        print(
            f"  API at {options.light_connections} connections: "
            f"{light.requests_per_second:.0f} req/s, p50 {light.p50_ms:.2f} ms, "
            f"p99 {light.p99_ms:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
