"""The traffic model: arrival curves, thinning, and the visitor and agent plans."""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
from datetime import UTC, date, datetime, time, timedelta

import pytest

from kefu.sim.script import demo_script, order_number
from kefu.sim.traffic import (
    CALM_RATINGS,
    DOUBLE_11_VOLUME_FACTOR,
    SHANGHAI,
    AgentBehaviour,
    IntradayCurve,
    TimeScale,
    VisitorBehaviour,
    VisitorPlan,
    arrival_offsets,
    arrival_times,
    expected_arrivals,
    intraday_curve,
    mean_rating,
    plan_visitors,
    thinning,
)

DAY = datetime(2026, 11, 10, tzinfo=SHANGHAI)


def riemann(curve: IntradayCurve, a: float, b: float, steps: int = 20_000) -> float:
    width = (b - a) / steps
    return sum(curve.rate_per_hour(a + (i + 0.5) * width) for i in range(steps)) * width


@pytest.mark.parametrize("profile", ["normal", "double11"])
@pytest.mark.parametrize("volume", [1.0, 2400.0, 50_000.0])
def test_a_day_of_the_curve_brings_the_daily_volume(profile: str, volume: float) -> None:
    curve = intraday_curve(volume, profile)  # type: ignore[arg-type]
    expected = volume * (DOUBLE_11_VOLUME_FACTOR if profile == "double11" else 1)
    assert curve.expected_between(0, 24) == pytest.approx(expected, rel=1e-12)
    assert curve.expected_between(7.3, 31.3) == pytest.approx(expected, rel=1e-12)  # any 24 hours
    assert riemann(curve, 0, 24) == pytest.approx(expected, rel=1e-6)
    assert expected_arrivals(curve, DAY, DAY + timedelta(days=1)) == pytest.approx(expected, rel=1e-12)


def test_partial_integrals_agree_with_a_numerical_one() -> None:
    curve = intraday_curve(3000)
    for a, b in [(0, 1), (9.25, 11.8), (12.5, 13.5), (22.9, 25.1), (3.0, 3.0)]:
        assert curve.expected_between(a, b) == pytest.approx(riemann(curve, a, b), rel=1e-6, abs=1e-9)
    start = datetime(2026, 3, 2, 1, 17, 23, tzinfo=UTC)  # 09:17:23 in Shanghai
    end = start + timedelta(hours=5, minutes=3)
    local = 9 + 17 / 60 + 23 / 3600
    assert expected_arrivals(curve, start, end) == pytest.approx(curve.expected_between(local, local + 5.05))


def test_the_shape_of_an_ordinary_day() -> None:
    curve = intraday_curve(2400)
    rate = curve.rate_per_hour
    night = statistics.fmean(rate(h + 0.5) for h in range(1, 7))
    assert night < 0.1 * curve.peak_rate_per_hour()  # 1–7 h: quiet
    assert rate(8.5) > 2 * rate(7.5)  # the ramp from 8 h
    assert rate(10.5) > rate(9.5) and rate(11.5) > rate(12.5) < rate(14.5)  # morning peak, lunch dip
    top = sorted(range(24), key=lambda h: rate(h + 0.5), reverse=True)[:4]
    assert set(top) == {10, 11, 20, 21}
    assert rate(time(10, 30)) == rate(10.5) == rate(datetime(2026, 1, 5, 10, 30, tzinfo=SHANGHAI))
    assert rate(24.25) == rate(0.25) and min(rate(h / 10) for h in range(240)) > 0


def test_the_double_11_profile() -> None:
    normal, d11 = intraday_curve(2000), intraday_curve(2000, "double11")
    busiest = max(range(24), key=lambda h: d11.rate_per_hour(h + 0.5))
    assert busiest == 0  # the sale opens at midnight
    evening = max(range(14, 24), key=lambda h: d11.rate_per_hour(h + 0.5))
    assert evening == 20
    assert all(d11.rate_per_hour(h + 0.5) > normal.rate_per_hour(h + 0.5) for h in range(24))
    with pytest.raises(ValueError, match="profile"):
        intraday_curve(10, "618")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        IntradayCurve(10, (1.0,) * 23)


def test_thinning_matches_the_integral_of_the_rate() -> None:
    curve = intraday_curve(1200)
    start, end = DAY + timedelta(hours=7), DAY + timedelta(hours=13)
    mean = expected_arrivals(curve, start, end)
    runs = 300
    counts = []
    seconds = (end - start).total_seconds()
    for seed in range(runs):
        arrivals = arrival_offsets(curve, start, end, random.Random(seed))
        assert arrivals == sorted(arrivals)
        assert all(0 <= t < seconds for t in arrivals)
        counts.append(len(arrivals))
    # The mean of `runs` Poisson(mean) counts has standard deviation sqrt(mean / runs).
    assert abs(statistics.fmean(counts) - mean) < 4 * math.sqrt(mean / runs)
    assert 0.7 < statistics.variance(counts) / mean < 1.3  # Poisson: variance = mean


def test_thinning_follows_the_shape_of_the_rate() -> None:
    rng = random.Random(7)
    arrivals = thinning(lambda t: t / 100, 1.0, 0.0, 100.0, rng)  # rate t/100 on [0, 100): 50 expected
    counts = [0, 0]
    for _ in range(200):
        for t in thinning(lambda t: t / 100, 1.0, 0.0, 100.0, rng):
            counts[t >= 50] += 1
    assert counts[1] / counts[0] == pytest.approx(3.0, rel=0.1)  # 37.5 vs 12.5 per run
    assert arrivals == sorted(arrivals) and all(0 <= t < 100 for t in arrivals)
    assert thinning(lambda t: 1.0, 1.0, 5.0, 5.0, rng) == []
    with pytest.raises(ValueError, match="exceeds"):
        thinning(lambda t: 2.0, 1.0, 0.0, 100.0, rng)


def test_time_compression() -> None:
    curve = intraday_curve(500)
    end = DAY + timedelta(days=1)
    scale = TimeScale.day_in(10)
    assert scale.speed == 144 and scale.wall_s(86_400) == 600 and scale.sim_s(600) == 86_400
    real = arrival_offsets(curve, DAY, end, random.Random(3))
    fast = arrival_offsets(curve, DAY, end, random.Random(3), speed=scale.speed)
    assert fast == pytest.approx([t / 144 for t in real]) and max(fast) < 600
    times = arrival_times(curve, DAY, end, random.Random(3))
    assert times == [DAY + timedelta(seconds=t) for t in real]
    with pytest.raises(ValueError, match="aware"):
        arrival_offsets(curve, datetime(2026, 1, 1), datetime(2026, 1, 2), random.Random(0))


@pytest.fixture(scope="module")
def day_of_visitors() -> list[VisitorPlan]:
    return plan_visitors(intraday_curve(3000), DAY, DAY + timedelta(days=1), random.Random(11), demo_script())


def test_plans_are_deterministic_for_a_seed() -> None:
    script = demo_script()
    window = (DAY + timedelta(hours=10), DAY + timedelta(hours=11))
    first = plan_visitors(intraday_curve(2000), *window, random.Random(5), script)
    assert first == plan_visitors(intraday_curve(2000), *window, random.Random(5), script)
    assert first != plan_visitors(intraday_curve(2000), *window, random.Random(6), script)
    agent = AgentBehaviour()
    assert agent.conversation_plan(random.Random(1), script) == agent.conversation_plan(random.Random(1), script)
    assert agent.shift_plan(random.Random(1), 0, 28_800) == agent.shift_plan(random.Random(1), 0, 28_800)


def test_visitor_plans_are_well_formed(day_of_visitors: list[VisitorPlan]) -> None:
    script = demo_script()
    assert [p.arrival_s for p in day_of_visitors] == sorted(p.arrival_s for p in day_of_visitors)
    assert len({p.visitor_id for p in day_of_visitors}) == len(day_of_visitors)
    for plan in day_of_visitors:
        assert 1 <= len(plan.questions) <= 3
        assert re.fullmatch(r"2026(10|11)\d{7}", plan.order_no), plan.order_no
        for i, q in enumerate(plan.questions):
            assert q.think_s > 0 and q.human_after_s >= 0
            if q.kind == "kb":
                assert q.kb_question is not None and q.text in script.visitor.kb[q.kb_question]
            else:
                assert q.kb_question is None
            if q.escalate == "always":
                assert i == len(plan.questions) - 1
            if q.kind == "human":
                assert i == 0 and q.escalate == "always" and plan.wants_human_first
        assert plan.chat_lines and all(line.delay_s > 0 for line in plan.chat_lines)
        assert plan.patience_s > 0 and plan.rating in (None, 1, 2, 3, 4, 5)


def test_visitor_behaviour_rates(day_of_visitors: list[VisitorPlan]) -> None:
    behaviour = VisitorBehaviour()
    questions = [q for p in day_of_visitors for q in p.questions if q.kind != "human"]
    out_of_scope = sum(q.kind != "kb" for q in questions) / len(questions)
    assert out_of_scope == pytest.approx(behaviour.out_of_scope_share, abs=0.03)
    human_first = sum(p.wants_human_first for p in day_of_visitors) / len(day_of_visitors)
    assert human_first == pytest.approx(behaviour.human_first_share, abs=0.02)
    kb = [q for q in questions if q.kind == "kb"]
    always = sum(q.escalate == "always" for q in kb) / len(kb)
    at_least_on_miss = sum(q.escalate != "never" for q in kb) / len(kb)
    assert always == pytest.approx(0.10, abs=0.03) and at_least_on_miss == pytest.approx(0.55, abs=0.04)
    picks = [q.pick_after_s for q in questions if q.pick_after_s is not None]
    assert len(picks) / len(questions) == pytest.approx(behaviour.suggestion_pick_share, abs=0.04)
    assert all(s > 0 for s in picks)
    patience = statistics.fmean(p.patience_s for p in day_of_visitors)
    assert patience == pytest.approx(behaviour.patience_mean_s, rel=0.1)
    delays = [line.delay_s for p in day_of_visitors for line in p.chat_lines]
    assert 3 < statistics.median(delays) < 15  # a few seconds of thinking and typing


def test_ratings_are_mostly_fives(day_of_visitors: list[VisitorPlan]) -> None:
    ratings = [p.rating for p in day_of_visitors if p.rating is not None]
    share_rated = len(ratings) / len(day_of_visitors)
    assert 0.6 < share_rated < 0.85  # some leave without rating
    assert 4.0 < statistics.fmean(ratings) < 4.7
    assert statistics.mode(ratings) == 5 and 0 < ratings.count(1) < ratings.count(4)
    assert mean_rating(CALM_RATINGS) == pytest.approx(4.58)


def test_agent_conversations() -> None:
    script, agent = demo_script(), AgentBehaviour()
    rng = random.Random(21)
    delays, ks = [], set()
    for _ in range(500):
        plan = agent.conversation_plan(rng, script)
        assert plan.replies[0].purpose == "greeting" and plan.replies[-1].purpose == "closing"
        assert "answer" in [r.purpose for r in plan.replies[1:-1]]
        assert 2 <= plan.exchanges <= 5 and plan.accept_after_s > 0 and plan.end_after_s > 0
        ks.add(plan.exchanges)
        delays += [r.delay_s(incoming_chars=15) for r in plan.replies]
    assert ks == {2, 3, 4, 5}
    assert 8 <= statistics.fmean(delays) <= 20
    short = statistics.fmean(agent.reply_delay_s(rng, 5, 10) for _ in range(2000))
    long = statistics.fmean(agent.reply_delay_s(rng, 80, 60) for _ in range(2000))
    assert long > short + 15  # reading and typing take longer for longer messages
    answer = script.entry("退款多久到账").answer
    plan = agent.conversation_plan(random.Random(2), script, kb_answer=answer)
    assert [r.text for r in plan.replies].count(answer) == 1


def test_agent_shifts_take_breaks() -> None:
    agent = AgentBehaviour(breaks_per_hour=1.0, break_mean_s=300)
    aways = 0
    for seed in range(200):
        steps = agent.shift_plan(random.Random(seed), 3600, 3600 + 8 * 3600)
        assert steps[0].payload["status"] == "online" and steps[-1].payload["status"] == "offline"
        assert steps[0].at_s == 3600 and steps[-1].at_s == 3600 + 8 * 3600
        assert [s.at_s for s in steps] == sorted(s.at_s for s in steps)
        statuses = [s.payload["status"] for s in steps[:-1]]
        assert all(a != b for a, b in itertools.pairwise(statuses))  # alternates online / away
        assert all(s.action == "set_status" for s in steps)
        aways += statuses.count("away")
    assert aways / 200 == pytest.approx(8 * 3600 / (3600 + 300), rel=0.1)  # one break per hour at work


def test_order_numbers() -> None:
    assert re.fullmatch(r"20261111\d{5}", order_number(random.Random(0), date(2026, 11, 11)))
