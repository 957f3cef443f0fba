"""Task logs: time worked, notes and status changes on a task (`/tasks/{task_id}/logs`,
`/task-logs`).

Who may: a member manages their own logs, on tasks they are assignee or reviewer of, and
lists their own logs; managers and admins manage and list every log of their account.
Anything else is 404, exactly like a log or task that does not exist (deleted tasks and
tasks of deleted projects included). `status_change` logs are recorded by the system (the
task change and the sync): they cannot be created, changed or deleted here.

Rules, each a 422 naming its field: hours finite, > 0 and ≤ 24; one user's time on one day
at most 24 hours (existing time logs of that user and day, less the log being changed,
counted in the write transaction under a lock on the user's row); date_worked no later than
today (in `REPORT_TIMEZONE`) plus `LOG_FUTURE_DAYS`.

Write-back. ACE is the system of record for time, so a time log of an ACE user (while
`ACE_WRITE_BACK` is on) goes to ACE first, and acehub stores it only once ACE has it:

- create: `saveworkitem`, a new weekly line holding the day; the row mirrors it (source
  `ace`, keyed by line id and day, so the next sync finds it rather than adding one);
- change: the line is read back (`get_time_line`) and saved again with the day's new hours
  or the new comment, the line's other days as ACE has them; a day cannot move (delete the
  log and log the new day);
- delete: `deleteworkitem` when the day is the line's only one, else the day set to 0 hours.

ACE's own session is used: the caller's when the log is theirs, else (a manager or admin on
another user's log) the owner's stored session, and 409 CONFLICT when the owner has none. A
refusal stores nothing and answers ACE's mapped code. A timeout is followed by a read-back:
if ACE has the change, acehub stores it and answers as usual; if not (or the read fails), the
timeout is answered with nothing stored. Should ACE apply it even later, the next sync mirrors
it. No transaction is open while ACE answers (on SQLite it would hold the write lock).

Notes, local accounts' logs, and every log with `ACE_WRITE_BACK=false` stay local (source
`local`). A local log stays local afterwards, and an ACE log is only ever changed through ACE.
"""

from __future__ import annotations

from app.services.task_logs.ace_lines import DAYS_PER_WEEK, week_start_of
from app.services.task_logs.reads import LOG_KEYS, LOG_SORTS, list_logs
from app.services.task_logs.rules import body_error, today_in
from app.services.task_logs.scope import NO_SUCH_LOG
from app.services.task_logs.writes import create_log, delete_log, update_log

__all__ = [
    "DAYS_PER_WEEK",
    "LOG_KEYS",
    "LOG_SORTS",
    "NO_SUCH_LOG",
    "body_error",
    "create_log",
    "delete_log",
    "list_logs",
    "today_in",
    "update_log",
    "week_start_of",
]
