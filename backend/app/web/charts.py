"""Chart geometry for the dashboard's server-drawn SVG: numbers in, rectangles out (the
templates draw them; colours come from the stylesheet's `series-N` classes, so no inline
style is needed under the Content-Security-Policy)."""

from __future__ import annotations

from dataclasses import dataclass

from app.dto.report_dto import ProjectProgress, TimeReport

SERIES_COLOURS = 8
WIDTH = 720
HEIGHT = 220
LEFT = 40  # room for the hour ticks
BOTTOM = 36  # room for the bucket labels
TOP = 10


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Series:
    key: object
    index: int
    label: str
    hours: float


@dataclass(frozen=True)
class StackedBars:
    width: int
    height: int
    bars: list[Rect]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    total_hours: float

    @property
    def empty(self) -> bool:
        return not self.bars


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10  # pragma: no cover - the loop always returns


def time_chart(report: TimeReport) -> StackedBars:
    """Hours per bucket (the report's first level), stacked by its second level."""
    series: dict[object, Series] = {}
    for bucket in report.groups:
        for part in bucket.groups:
            known = series.get(part.key)
            index = known.index if known else len(series)
            hours = (known.hours if known else 0.0) + part.hours
            series[part.key] = Series(part.key, index, part.label, round(hours, 2))
    peak = _nice_ceiling(max((bucket.hours for bucket in report.groups), default=0.0))
    plot_width, plot_height = WIDTH - LEFT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(report.groups), 1)
    bar_width = max(slot * 0.7, 1.0)
    label_every = max(1, round(len(report.groups) / 10))
    bars: list[Rect] = []
    x_ticks: list[Tick] = []
    for position, bucket in enumerate(report.groups):
        x = LEFT + position * slot + (slot - bar_width) / 2
        base = float(TOP + plot_height)
        for part in bucket.groups:
            if part.hours <= 0:
                continue
            height = plot_height * part.hours / peak
            base -= height
            bars.append(
                Rect(
                    round(x, 2),
                    round(base, 2),
                    round(bar_width, 2),
                    round(height, 2),
                    series[part.key].index % SERIES_COLOURS,
                    f"{bucket.label}, {part.label}: {part.hours:g} h",
                )
            )
        if position % label_every == 0:
            x_ticks.append(Tick(round(x + bar_width / 2, 2), bucket.label))
    y_ticks = [
        Tick(round(TOP + plot_height * (1 - share), 2), f"{peak * share:g}")
        for share in (0.0, 0.5, 1.0)
    ]
    return StackedBars(
        WIDTH,
        HEIGHT,
        bars,
        x_ticks,
        y_ticks,
        sorted(series.values(), key=lambda s: s.index),
        round(report.hours, 2),
    )


@dataclass(frozen=True)
class Share:
    """One segment of a 100 % bar."""

    label: str
    count: int
    percent: float
    offset: float


@dataclass(frozen=True)
class ProgressBars:
    status: list[Share]
    estimated_percent: float
    logged_percent: float


STATUS_ORDER = ("completed", "in_progress", "waiting", "none")


def progress_bars(progress: ProjectProgress) -> ProgressBars:
    """A project's tasks by status type as one 100 % bar; estimate and logged hours as two
    bars on a common scale."""
    total = sum(progress.tasks_by_status_type.values())
    shares: list[Share] = []
    offset = 0.0
    for status in STATUS_ORDER:
        count = progress.tasks_by_status_type.get(status, 0)
        percent = round(100 * count / total, 2) if total else 0.0
        shares.append(Share(status.replace("_", " "), count, percent, round(offset, 2)))
        offset += percent
    scale = max(progress.estimated_hours, progress.logged_hours, 0.0) or 1.0
    return ProgressBars(
        shares,
        round(100 * progress.estimated_hours / scale, 2),
        round(100 * progress.logged_hours / scale, 2),
    )
