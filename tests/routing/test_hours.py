from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kefu.routing.hours import Interval, WorkingHours, WorkingHoursError

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in ``zone`` as an aware datetime (compared by instant)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


OFFICE: dict[str, Any] = {
    "tz": "Asia/Shanghai",
    "weekly": {
        "mon": [["09:00", "12:00"], ["13:00", "18:00"]],
        "tue": [["09:00", "18:00"]],
        "wed": [["09:00", "18:00"]],
        "thu": [["09:00", "18:00"]],
        "fri": [["09:00", "18:00"], ["20:00", "02:00+1"]],
        "sat": [["10:00", "16:00"]],
    },
    "exceptions": {"2026-10-01": [], "2026-11-11": [["00:00", "24:00"]]},
}


def test_default_and_empty_dict_are_always_open() -> None:
    for hours in (WorkingHours(), WorkingHours.from_dict({}), WorkingHours.from_dict(None)):
        assert hours.always_open
        for h in range(0, 24 * 7, 5):
            t = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=h, minutes=17)
            assert hours.is_open(t)
            assert hours.next_open(t) == t
    assert WorkingHours().tz == "Asia/Shanghai"


def test_weekly_schedule_with_a_lunch_break() -> None:
    hours = WorkingHours.from_dict(OFFICE)
    # 2026-03-02 is a Monday.
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 2, 8, 59))
    assert hours.is_open(local(SHANGHAI, 2026, 3, 2, 9, 0))
    assert hours.is_open(local(SHANGHAI, 2026, 3, 2, 11, 59, 59))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 2, 12, 0))  # the end is not included
    assert hours.is_open(local(SHANGHAI, 2026, 3, 2, 13, 0))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 2, 18, 0))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 8, 12, 0))  # Sunday: not in weekly, closed
    assert hours.next_open(local(SHANGHAI, 2026, 3, 2, 12, 30)) == local(SHANGHAI, 2026, 3, 2, 13, 0)
    assert hours.next_open(local(SHANGHAI, 2026, 3, 2, 18, 0)) == local(SHANGHAI, 2026, 3, 3, 9, 0)
    # Saturday evening → Monday morning.
    assert hours.next_open(local(SHANGHAI, 2026, 3, 7, 16, 0)) == local(SHANGHAI, 2026, 3, 9, 9, 0)
    assert hours.next_open(local(SHANGHAI, 2026, 3, 7, 16, 0)).tzinfo is UTC  # type: ignore[union-attr]


def test_an_interval_past_midnight_belongs_to_the_day_it_starts() -> None:
    hours = WorkingHours.from_dict(OFFICE)
    # Friday 2026-03-06 20:00 → Saturday 02:00.
    assert hours.is_open(local(SHANGHAI, 2026, 3, 6, 23, 59))
    assert hours.is_open(local(SHANGHAI, 2026, 3, 7, 0, 0))
    assert hours.is_open(local(SHANGHAI, 2026, 3, 7, 1, 59))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 7, 2, 0))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 6, 19, 59))
    # Thursday night is not Friday night.
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 6, 1, 0))
    assert hours.next_open(local(SHANGHAI, 2026, 3, 7, 2, 0)) == local(SHANGHAI, 2026, 3, 7, 10, 0)


def test_holidays_close_and_special_days_open() -> None:
    hours = WorkingHours.from_dict(OFFICE)
    # 2026-10-01 (国庆, a Thursday) is closed all day; the next opening is Friday 09:00.
    assert not hours.is_open(local(SHANGHAI, 2026, 10, 1, 10, 0))
    assert hours.next_open(local(SHANGHAI, 2026, 9, 30, 18, 0)) == local(SHANGHAI, 2026, 10, 2, 9, 0)
    # 双11 (a Wednesday) is open around the clock, weekly hours notwithstanding.
    for hour in (0, 3, 8, 19, 23):
        assert hours.is_open(local(SHANGHAI, 2026, 11, 11, hour, 30))
    assert hours.next_open(local(SHANGHAI, 2026, 11, 10, 18, 0)) == local(SHANGHAI, 2026, 11, 11, 0, 0)
    assert not hours.is_open(local(SHANGHAI, 2026, 11, 12, 0, 30))


def test_a_holiday_does_not_cut_short_the_night_shift_of_the_day_before() -> None:
    hours = WorkingHours.from_dict(
        {"tz": "Asia/Shanghai", "weekly": {"fri": [["20:00", "02:00+1"]]}, "exceptions": {"2026-03-07": []}}
    )
    assert hours.is_open(local(SHANGHAI, 2026, 3, 7, 1, 0))  # Friday's shift, on the holiday Saturday
    # A special opening that starts before the previous night's shift ended simply overlaps it.
    hours = WorkingHours.from_dict(
        {"weekly": {"fri": [["20:00", "02:00+1"]]}, "exceptions": {"2026-03-07": [["01:00", "03:00"]]}}
    )
    assert hours.is_open(local(SHANGHAI, 2026, 3, 7, 2, 30))
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 7, 3, 0))


def test_never_open_again_gives_none() -> None:
    closed = WorkingHours.from_dict({"weekly": {}})
    assert not closed.is_open(datetime(2026, 1, 1, tzinfo=UTC))
    assert closed.next_open(datetime(2026, 1, 1, tzinfo=UTC)) is None
    # Closed every week, but one special day far ahead.
    once = WorkingHours.from_dict({"weekly": {}, "exceptions": {"2027-06-18": [["08:00", "22:00"]]}})
    assert once.next_open(datetime(2026, 1, 1, tzinfo=UTC)) == local(SHANGHAI, 2027, 6, 18, 8, 0)
    assert once.next_open(local(SHANGHAI, 2027, 6, 18, 22, 0)) is None


def test_round_trip_through_json() -> None:
    hours = WorkingHours.from_dict(OFFICE)
    data = hours.to_dict()
    assert data["weekly"]["fri"] == [["09:00", "18:00"], ["20:00", "02:00+1"]]
    assert data["weekly"]["sun"] == []
    assert data["exceptions"] == {"2026-10-01": [], "2026-11-11": [["00:00", "24:00"]]}
    assert WorkingHours.from_dict(data) == hours
    assert WorkingHours.from_dict(WorkingHours().to_dict()) == WorkingHours()
    # Equivalent spellings come back in one form; intervals are sorted.
    odd = WorkingHours.from_dict({"weekly": {"mon": [["13:00", "00:00+1"], ["9:00", "12:00"]]}})
    assert odd.to_dict()["weekly"]["mon"] == [["09:00", "12:00"], ["13:00", "24:00"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekly": {"mon": [["9", "18:00"]]}}, "invalid time '9'"),
        ({"weekly": {"mon": [["09:60", "18:00"]]}}, "invalid time 09:60"),
        ({"weekly": {"mon": [["25:00", "26:00"]]}}, "invalid time 25:00"),
        ({"weekly": {"mon": [["24:00", "24:00"]]}}, "start time 24:00 is invalid"),
        ({"weekly": {"mon": [["09:00", "24:30"]]}}, "invalid time 24:30"),
        ({"weekly": {"mon": [["18:00", "09:00"]]}}, "ends before it starts"),
        ({"weekly": {"mon": [["09:00", "09:00"]]}}, "empty"),
        ({"weekly": {"mon": [["09:00", "10:00+1"]]}}, "longer than 24 hours"),
        ({"weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlap"),
        ({"weekly": {"sun": [["22:00", "03:00+1"]], "mon": [["02:00", "05:00"]]}}, "runs past midnight"),
        ({"weekly": {"monday": [["09:00", "18:00"]]}}, "unknown weekday monday"),
        ({"weekly": {"mon": "09:00-18:00"}}, "must be a list"),
        ({"weekly": {"mon": [["09:00"]]}}, "pair of times"),
        ({"weekly": [["09:00", "18:00"]]}, "keyed by weekday"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"tz": "Asia"}, "unknown time zone"),
        ({"exceptions": {"2026-02-30": []}}, "invalid date '2026-02-30'"),
        ({"exceptions": {"11/11": []}}, "invalid date"),
        ({"exceptions": {"2026-11-11": [["00:00", "12:00"], ["11:00", "24:00"]]}}, "2026-11-11 intervals"),
        ({"hours": {}}, "unknown field"),
        ([], "must be an object"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        WorkingHours.from_dict(data)
    assert isinstance(raised.value, WorkingHoursError) and raised.value.zh  # Chinese message too


def test_chinese_messages() -> None:
    with pytest.raises(WorkingHoursError) as raised:
        WorkingHours.from_dict({"weekly": {"tue": [["09:00", "12:00"], ["11:00", "13:00"]]}})
    assert raised.value.zh == "周二的时间段 09:00–12:00 与 11:00–13:00 重叠"


def test_touching_intervals_and_a_full_day_are_fine() -> None:
    hours = WorkingHours.from_dict(
        {"weekly": {"mon": [["00:00", "12:00"], ["12:00", "24:00"]], "tue": [["20:00", "20:00+1"]], "wed": []}}
    )
    assert hours.is_open(local(SHANGHAI, 2026, 3, 2, 12, 0))
    assert hours.is_open(local(SHANGHAI, 2026, 3, 4, 19, 59))  # Tuesday's 24 hours from 20:00
    assert not hours.is_open(local(SHANGHAI, 2026, 3, 4, 20, 0))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WorkingHours().is_open(datetime(2026, 1, 1))


def test_constructed_values_are_validated_too() -> None:
    with pytest.raises(WorkingHoursError):
        Interval(600, 500)
    with pytest.raises(WorkingHoursError, match="7 days"):
        WorkingHours(weekly=())
    with pytest.raises(WorkingHoursError, match="overlap"):
        WorkingHours(exceptions={date(2026, 1, 1): (Interval(0, 600), Interval(500, 700))})


# --- daylight saving time (Europe/Berlin: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00) ----------


def berlin(weekly: dict[str, Any]) -> WorkingHours:
    return WorkingHours.from_dict({"tz": "Europe/Berlin", "weekly": weekly})


def test_opening_hours_follow_the_wall_clock_across_dst() -> None:
    hours = berlin({d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    # 09:00 in winter is 08:00 UTC, in summer 07:00 UTC.
    assert hours.next_open(datetime(2026, 3, 28, 20, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert hours.next_open(datetime(2026, 3, 27, 20, 0, tzinfo=UTC)) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert hours.is_open(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 3, 28, 7, 30, tzinfo=UTC))
    assert hours.next_open(datetime(2026, 10, 24, 20, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_a_start_inside_the_spring_gap_opens_when_the_clock_jumps() -> None:
    hours = berlin({"sun": [["02:30", "04:00"]]})
    # On 2026-03-29 02:30 does not exist: the clock jumps from 02:00 CET (01:00 UTC) to 03:00 CEST.
    assert hours.next_open(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert not hours.is_open(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # 04:00 CEST
    # An interval wholly inside the gap never opens that day: the next Sunday it does.
    gap = berlin({"sun": [["02:10", "02:50"]]})
    assert gap.next_open(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == local(BERLIN, 2026, 4, 5, 2, 10)


def test_the_autumn_hour_that_happens_twice() -> None:
    hours = berlin({"sun": [["02:00", "02:30"]]})
    # 2026-10-25: 02:00–03:00 happens in CEST (00:00–01:00 UTC) and again in CET (01:00–02:00 UTC).
    first, second = datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert hours.next_open(datetime(2026, 10, 24, 12, 0, tzinfo=UTC)) == first
    assert hours.is_open(first + timedelta(minutes=29)) and not hours.is_open(first + timedelta(minutes=30))
    assert hours.next_open(first + timedelta(minutes=30)) == second
    assert hours.next_open(second + timedelta(minutes=30)) == local(BERLIN, 2026, 11, 1, 2, 0)
    # Wall clock falls back into an interval: open again at the change itself (01:00 UTC = 02:00 CET).
    back = berlin({"sun": [["01:00", "02:15"]]})
    assert not back.is_open(datetime(2026, 10, 25, 0, 45, tzinfo=UTC))  # 02:45 CEST
    assert back.next_open(datetime(2026, 10, 25, 0, 45, tzinfo=UTC)) == second


def test_next_open_agrees_with_is_open_minute_by_minute() -> None:
    """Brute force: next_open(t) is the first minute at or after t that is_open (on minute boundaries)."""
    rng = random.Random(7)
    for tz in ("Europe/Berlin", "Asia/Shanghai"):
        hours = WorkingHours.from_dict(
            {
                "tz": tz,
                "weekly": {"sat": [["01:30", "02:45"], ["22:00", "02:40+1"]], "sun": [["03:00", "03:30"]]},
                "exceptions": {"2026-10-31": [["02:15", "02:30"]]},
            }
        )
        minute = timedelta(minutes=1)
        for start in (datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 10, 23, 12, tzinfo=UTC)):
            opens = [hours.is_open(start + i * minute) for i in range(15 * 24 * 60)]
            for _ in range(150):
                i = rng.randrange(7 * 24 * 60)
                expected = next(j for j in range(i, len(opens)) if opens[j])
                assert hours.next_open(start + i * minute) == start + expected * minute, (tz, i)
