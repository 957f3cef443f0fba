"""Task logs' steps; `app.services.task_log_service` is their entry point (and holds the
guarantees).

- `rules`: the validation rules (kinds, the latest day, at most 24 hours a user and day).
- `scope`: who may see or manage which task and log, who writes to ACE, the ACE session for
  a log.
- `reads`: the list of logs (`list_logs`).
- `ace_lines`: ACE's weekly lines (the week of a day, a line's hours, the read-back after a
  timeout).
- `writes`: `create_log`, `update_log`, `delete_log`.
"""
