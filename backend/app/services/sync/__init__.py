"""Account sync: ACE users → projects → tasks → assignees → time entries, as a job.

A job row records state, phase, counts per entity and errors; at most one job per account is
queued or running (a partial unique index refuses a second), and the run holds a PostgreSQL
advisory lock, so two workers or hosts never sync one account at once. A job whose heartbeat
stopped (its worker died) is marked failed when the next one is requested.

Incremental runs read tasks modified since the last successful watermark minus an overlap;
a full pass (periodically, or on request) reads everything and mirrors deletions as
tombstones. Writes are idempotent upserts committed page by page, so an interrupted run
leaves every row either at its old or its new version, and the watermark only moves on
success.

- `jobs`: the job's lifecycle (request, claim, heartbeat, finish, stale detection, reads).
- `plan`: what a run asks ACE for (the "since" rule).
- `account_sync`: the phases, and `PHASES`, the table of them in the order they run.
- `worker`: runs a queued job: claim → the phases → finish.
- `fetch`: the fetch endpoints' reads (some phases, for one caller's view of ACE).
- `mirror`: writes what ACE answered into the mirror tables (through the one upsert).
- `runner`: the background jobs of this process (started after commit, cancelled on exit).
- `scheduler`: the periodic syncs of an API process.
"""
