"""Working hours of a skill group (工作时间): pure, no I/O, the clock passed in.

A :class:`WorkingHours` is a weekly schedule — for each weekday a list of local-time intervals — plus
dated exceptions that replace the weekly intervals of one date: an empty list closes the date (a
holiday), other intervals open it differently (双11 00:00–24:00). Times are wall-clock times in the
value's IANA time zone, so opening hours stay "09:00" across a daylight-saving change.

An interval belongs to the date on which it starts. ``["20:00", "02:00+1"]`` runs from 20:00 to 02:00 of
the next day (``+1``: next day; ``"24:00"`` is midnight at the end of the day); a holiday on the next
date does not cut it short. An end before the start without ``+1`` is refused, so "18:00–09:00" typed
for "09:00–18:00" is caught. Intervals of one day must not overlap (touching is fine), nor may a weekly
interval past midnight overlap the next weekday's.

Stored as JSON (the skill group's ``working_hours`` column)::

    {"tz": "Asia/Shanghai",
     "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": [["20:00", "02:00+1"]]},
     "exceptions": {"2026-10-01": [], "2026-11-11": [["00:00", "24:00"]]}}

Weekdays missing from ``weekly`` are closed; a missing ``weekly`` means open all week. ``{}`` (and the
default value) is always open.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kefu.config import is_time_zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DAY_MIN = 24 * 60
DEFAULT_TZ = "Asia/Shanghai"
MAX_INTERVALS_PER_DAY = 24
MAX_EXCEPTIONS = 1000

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(\+1)?$")


class WorkingHoursError(ValueError):
    """Bad working hours. ``str()`` is the English message; ``zh`` and ``en`` are both available."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True, order=True)
class Interval:
    """Minutes after local midnight of the interval's own date: ``0 <= start < 1440`` and
    ``start < end <= start + 1440``; ``end > 1440`` runs into the next day."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < DAY_MIN and self.start < self.end <= self.start + DAY_MIN):
            raise WorkingHoursError(
                f"时间段无效：{self.label()}", f"invalid interval {self.label()} (start {self.start}, end {self.end})"
            )

    @classmethod
    def parse(cls, value: object) -> Interval:
        """From ``["HH:MM", "HH:MM"]``; the end may be ``"24:00"`` or carry ``+1`` (next day)."""
        if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise WorkingHoursError(
                f'时间段应为 [开始, 结束] 两个时间，例如 ["09:00", "18:00"]，收到 {value!r}',
                f'an interval must be a pair of times such as ["09:00", "18:00"], got {value!r}',
            )
        start_text, end_text = value
        start, start_next = _parse_time(start_text)
        if start_next or start == DAY_MIN:
            raise WorkingHoursError(
                f"开始时间 {start_text} 无效：应在 00:00 到 23:59 之间",
                f"start time {start_text} is invalid: it must be between 00:00 and 23:59",
            )
        end, end_next = _parse_time(end_text)
        label = f"{start_text}–{end_text}"
        if end_next:
            end += DAY_MIN
            if end > start + DAY_MIN:
                raise WorkingHoursError(f"时间段 {label} 超过 24 小时", f"interval {label} is longer than 24 hours")
        elif end < start:
            raise WorkingHoursError(
                f"时间段 {label} 的结束时间早于开始时间；跨午夜的时间段请写成 {end_text}+1（次日）",
                f"interval {label} ends before it starts; for a shift past midnight write the end as {end_text}+1",
            )
        if end == start:
            raise WorkingHoursError(f"时间段 {label} 长度为零", f"interval {label} is empty")
        return cls(start, end)

    def to_json(self) -> list[str]:
        end = _format_time(self.end) if self.end <= DAY_MIN else _format_time(self.end - DAY_MIN) + "+1"
        return [_format_time(self.start), end]

    def label(self) -> str:
        start = f"{self.start // 60:02d}:{self.start % 60:02d}"
        return f"{start}–{self.end // 60:02d}:{self.end % 60:02d}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end > DAY_MIN


Day = tuple[Interval, ...]
ALL_DAY: Day = (Interval(0, DAY_MIN),)


@dataclass(frozen=True)
class WorkingHours:
    """Weekly schedule (Monday first) plus dated exceptions, in wall-clock time of ``tz``. The default is
    always open. Validated on construction; treat ``exceptions`` as read-only."""

    tz: str = DEFAULT_TZ
    weekly: tuple[Day, ...] = (ALL_DAY,) * 7
    exceptions: dict[date, Day] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tz, str) or not is_time_zone(self.tz):
            raise WorkingHoursError(f"未知时区：{self.tz!r}", f"unknown time zone {self.tz!r}")
        if len(self.weekly) != 7:
            raise WorkingHoursError("每周安排应包含 7 天", "the weekly schedule must have 7 days")
        if len(self.exceptions) > MAX_EXCEPTIONS:
            raise WorkingHoursError(
                f"特殊日期最多 {MAX_EXCEPTIONS} 个", f"at most {MAX_EXCEPTIONS} dated exceptions are allowed"
            )
        weekly = tuple(_check_day(day, WEEKDAYS_ZH[i], WEEKDAYS[i]) for i, day in enumerate(self.weekly))
        for i, day in enumerate(weekly):
            nxt = weekly[(i + 1) % 7]
            if day and day[-1].crosses_midnight and nxt and nxt[0].start < day[-1].end - DAY_MIN:
                raise WorkingHoursError(
                    f"{WEEKDAYS_ZH[i]}的时间段 {day[-1].label()} 跨过午夜，与{WEEKDAYS_ZH[(i + 1) % 7]}的"
                    f"时间段 {nxt[0].label()} 重叠",
                    f"{WEEKDAYS[i]} interval {day[-1].label()} runs past midnight into "
                    f"{WEEKDAYS[(i + 1) % 7]} interval {nxt[0].label()}",
                )
        exceptions = {d: _check_day(day, d.isoformat(), d.isoformat()) for d, day in sorted(self.exceptions.items())}
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "exceptions", exceptions)

    # --- JSON ---------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, default_tz: str = DEFAULT_TZ) -> WorkingHours:
        """Parse the JSON form (see the module docstring); raises WorkingHoursError (a ValueError)."""
        if data is None:
            return cls(tz=default_tz)
        if not isinstance(data, Mapping):
            raise WorkingHoursError("工作时间应为一个对象", "working hours must be an object")
        unknown = sorted(set(data) - {"tz", "weekly", "exceptions"})
        if unknown:
            raise WorkingHoursError(
                f"工作时间中有未知字段：{', '.join(map(str, unknown))}",
                f"unknown field(s) in working hours: {', '.join(map(str, unknown))}",
            )
        tz = data.get("tz", default_tz)
        weekly: tuple[Day, ...] = (ALL_DAY,) * 7
        raw_weekly = data.get("weekly")
        if raw_weekly is not None:
            if not isinstance(raw_weekly, Mapping):
                raise WorkingHoursError(
                    "weekly 应为以星期为键的对象（mon … sun）", "weekly must be an object keyed by weekday (mon … sun)"
                )
            bad = sorted(str(k) for k in raw_weekly if k not in WEEKDAYS)
            if bad:
                raise WorkingHoursError(
                    f"未知的星期：{', '.join(bad)}（应为 {', '.join(WEEKDAYS)}）",
                    f"unknown weekday {', '.join(bad)} (use {', '.join(WEEKDAYS)})",
                )
            weekly = tuple(
                _parse_day(raw_weekly.get(name, []), zh, name) for name, zh in zip(WEEKDAYS, WEEKDAYS_ZH, strict=True)
            )
        raw_exceptions = data.get("exceptions") or {}
        if not isinstance(raw_exceptions, Mapping):
            raise WorkingHoursError(
                "exceptions 应为以日期（YYYY-MM-DD）为键的对象",
                "exceptions must be an object keyed by date (YYYY-MM-DD)",
            )
        exceptions: dict[date, Day] = {}
        for key, value in raw_exceptions.items():
            try:
                day = date.fromisoformat(key) if isinstance(key, str) and len(key) == 10 else None
            except ValueError:
                day = None
            if day is None:
                raise WorkingHoursError(f"日期 {key!r} 无效，应为 YYYY-MM-DD", f"invalid date {key!r}: use YYYY-MM-DD")
            exceptions[day] = _parse_day(value, key, key)
        return cls(tz=tz, weekly=weekly, exceptions=exceptions)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``from_dict(to_dict())`` gives the same value."""
        return {
            "tz": self.tz,
            "weekly": {name: [iv.to_json() for iv in day] for name, day in zip(WEEKDAYS, self.weekly, strict=True)},
            "exceptions": {d.isoformat(): [iv.to_json() for iv in day] for d, day in self.exceptions.items()},
        }

    # --- questions ----------------------------------------------------------------------------------------

    @property
    def always_open(self) -> bool:
        return all(day == ALL_DAY for day in self.weekly) and not self.exceptions

    def intervals_on(self, day: date) -> Day:
        """The intervals that start on ``day`` (local date): its exception if it has one, else its weekday's."""
        found = self.exceptions.get(day)
        return found if found is not None else self.weekly[day.weekday()]

    def is_open(self, now: datetime) -> bool:
        """Whether the wall clock of ``tz`` at the instant ``now`` (timezone-aware) is inside an interval."""
        local = _aware(now).astimezone(ZoneInfo(self.tz))
        return self._open_at_wall(local.replace(tzinfo=None))

    def next_open(self, now: datetime) -> datetime | None:
        """The first instant at or after ``now`` when it is open (``now`` itself when open now), in UTC;
        None when it never opens again."""
        now = _aware(now)
        if self.is_open(now):
            return now.astimezone(UTC)
        zone = ZoneInfo(self.tz)
        today = now.astimezone(zone).date()
        last = max([today, *self.exceptions])
        # After the last exception the weekly schedule repeats; two more weeks cover any DST oddity.
        until = last + timedelta(days=15)
        # The open set begins either where the wall clock reaches an interval's start or where it jumps
        # (a DST change) into an interval.
        best: datetime | None = None
        day = today - timedelta(days=1)
        while day <= until:
            for iv in self.intervals_on(day):
                wall = datetime.combine(day, time()) + timedelta(minutes=iv.start)
                for candidate in _instants_of_wall(wall, zone):
                    if candidate >= now and (best is None or candidate < best) and self.is_open(candidate):
                        best = candidate
            if best is not None and day > best.astimezone(zone).date() + timedelta(days=1):
                break
            day += timedelta(days=1)
        horizon = best or datetime.combine(until + timedelta(days=2), time(), tzinfo=zone).astimezone(UTC)
        for t in _transitions(zone, now, horizon):
            if self.is_open(t):
                return t
        return best

    def _open_at_wall(self, wall: datetime) -> bool:
        day = wall.date()
        minute = (wall - datetime.combine(day, time())) / timedelta(minutes=1)
        if any(iv.start <= minute < iv.end for iv in self.intervals_on(day)):
            return True
        return any(minute + DAY_MIN < iv.end for iv in self.intervals_on(day - timedelta(days=1)))


# --- helpers ---------------------------------------------------------------------------------------------


def _parse_time(text: object) -> tuple[int, bool]:
    """("HH:MM" or "HH:MM+1") -> (minutes, next day); "24:00" is 1440."""
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        raise WorkingHoursError(
            f"时间 {text!r} 无效，应为 HH:MM（如 09:00），次日写作 02:00+1",
            f"invalid time {text!r}: use HH:MM (e.g. 09:00), next day as 02:00+1",
        )
    hours, minutes, next_day = int(m.group(1)), int(m.group(2)), m.group(3) is not None
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or next_day)):
        raise WorkingHoursError(
            f"时间 {text} 无效：小时应为 00–23（结束时间可为 24:00），分钟 00–59",
            f"invalid time {text}: hours 00–23 (24:00 only as an end), minutes 00–59",
        )
    return hours * 60 + minutes, next_day


def _format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_day(value: object, zh: str, en: str) -> Day:
    if not isinstance(value, list | tuple):
        raise WorkingHoursError(f"{zh}的时间段应为列表", f"the intervals of {en} must be a list")
    return tuple(Interval.parse(v) for v in value)


def _check_day(intervals: Iterable[Interval], zh: str, en: str) -> Day:
    day = tuple(sorted(intervals))
    if len(day) > MAX_INTERVALS_PER_DAY:
        raise WorkingHoursError(
            f"{zh}的时间段最多 {MAX_INTERVALS_PER_DAY} 个", f"{en} has more than {MAX_INTERVALS_PER_DAY} intervals"
        )
    for a, b in itertools.pairwise(day):
        if b.start < a.end:
            raise WorkingHoursError(
                f"{zh}的时间段 {a.label()} 与 {b.label()} 重叠", f"{en} intervals {a.label()} and {b.label()} overlap"
            )
    return day


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("working hours need a timezone-aware datetime")
    return now


def _instants_of_wall(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants whose wall time in ``zone`` is ``wall``: none in a DST gap, two in a fold."""
    found = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return found


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end) where the UTC offset of ``zone`` changes, to the second."""
    found: list[datetime] = []
    step = timedelta(hours=6)
    t = start
    offset = t.astimezone(zone).utcoffset()
    while t < end:
        u = min(t + step, end)
        u_offset = u.astimezone(zone).utcoffset()
        if u_offset != offset:
            base = t.replace(microsecond=0)
            lo, hi = 0, math.ceil((u - base).total_seconds())  # offset at base + lo is old, at base + hi new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if (base + timedelta(seconds=mid)).astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            found.append(max(base + timedelta(seconds=hi), start))
        t, offset = u, u_offset
    return found
