"""A task's status type, read from its project's status list.

ACE's statuses belong to projects (`gettaskstatuses` with `projectid`), and the only code
list it documents is the `COMPLETED_STATUS` of each status (0 waiting, 1 completed,
2 in progress). A task row names its status by `TASK_STATUS_NAME` (and, on some answers, by
`TASK_STATUS_ID`); its `STATUS_TYPE_ID` has no documented codes, so it is never decoded.
A status the list does not know gets no type: nothing is guessed from an English name.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.ace.dto import AceTask, AceTaskStatus
from app.models.enums import StatusType


class StatusList:
    """One project's statuses, looked up by id, or by name when the task row has no id."""

    __slots__ = ("_by_id", "_by_name")

    def __init__(self, statuses: Iterable[AceTaskStatus]) -> None:
        self._by_id: dict[int, StatusType | None] = {}
        self._by_name: dict[str, StatusType | None] = {}
        for status in statuses:
            if status.status_id is not None:
                self._by_id[status.status_id] = status.status_type
            if status.name:
                self._by_name[_name_key(status.name)] = status.status_type

    def knows(self, task: AceTask) -> bool:
        if task.status_id is not None:
            return task.status_id in self._by_id
        return task.status_name is not None and _name_key(task.status_name) in self._by_name

    def type_of(self, task: AceTask) -> StatusType | None:
        if task.status_id is not None:
            return self._by_id.get(task.status_id)
        if task.status_name is None:
            return None
        return self._by_name.get(_name_key(task.status_name))


EMPTY = StatusList(())


def _name_key(name: str) -> str:
    return name.strip().casefold()
