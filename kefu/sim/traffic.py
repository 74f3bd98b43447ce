"""Simulated traffic: when visitors arrive, and what visitors and agents do and how long they take.

Pure: no clock is read and nothing is sent. Functions take the random generator (``random.Random``) and
times, and return *plans* that a driver — the part that speaks the real WebSocket protocol — executes.
A plan is a value: the same seed gives the same plan.

Times in plans are **simulated seconds**. A driver that runs a day in a few minutes divides them by the
speed of a :class:`TimeScale` (or keeps conversation times real and compresses only the arrivals).

Arrivals
    :class:`IntradayCurve` is the contact rate of a Chinese e-commerce customer-service day by local
    hour; :func:`thinning` draws a non-homogeneous Poisson process from any rate by Lewis–Shedler
    thinning; :func:`arrival_offsets` and :func:`arrival_times` apply it to a curve over ``[start, end)``.

Visitors (:meth:`VisitorBehaviour.plan` -> :class:`VisitorPlan`), executed as::

    wait until arrival_s; connect
    for q in questions:
        wait q.think_s (after connecting / after the bot's reply to the previous question)
        if q.kind == "human": ask for a person with q.text; go to QUEUE
        send q.text to the bot; on its reply (a hit: the bot answered; a miss: it did not):
            if q.rates_answer and hit: mark the answer helpful iff it answers q.kb_question
            if q.escalate == "always" or (q.escalate == "if_miss" and miss):
                wait q.human_after_s; ask for a person with q.human_text; go to QUEUE
    wait leave_after_s; leave                                   (the bot was enough)
    QUEUE: wait for an agent at most patience_s; if none accepted by then: abandon (leave the queue)
    for each agent message (or run of messages): say the next chat line after its delay_s; none left: stay quiet
    when the conversation is ended: if rating is not None: wait rating_after_s; rate; wait leave_after_s; leave

Agents
    :meth:`AgentBehaviour.shift_plan` gives timed :class:`Step` s ``(at_s, "set_status", {"status": ...})``
    with breaks ("away"); :meth:`AgentBehaviour.conversation_plan` gives an :class:`AgentConversationPlan`::

        offered (broadcast-grab) -> wait accept_after_s; grab it   (round-robin: it is simply assigned)
        reply i (greeting first, closing last): sent after the visitor's next message (the greeting: after
            acceptance), waiting replies[i].delay_s(len(that message))
        the visitor silent for idle_close_s since the agent's last message: send the closing reply now
        after the closing reply: wait end_after_s; end the conversation
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from kefu.sim.script import PickedQuestion, QuestionKind, Script, order_number

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Relative contacts per local hour 0–23 on an ordinary day: quiet 1–7 h, a ramp from 8 h, peaks at
#: 10–11 h and 20–22 h, a dip over lunch (12–13 h) and at dinner (18 h).
NORMAL_DAY: tuple[float, ...] = (
    2.2, 1.1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2,  # 0–7 h
    3.0, 6.0, 8.6, 9.0, 6.4, 6.0, 7.4, 7.8,  # 8–15 h
    7.2, 6.6, 6.0, 7.0, 8.6, 9.2, 8.2, 4.6,  # 16–23 h
)  # fmt: skip
#: 11 November: the sale opens at midnight (the largest peak, 0–1 h), a night that never gets quiet,
#: a busy day and a second wave around 20 h; everything is also several times an ordinary day.
DOUBLE_11: tuple[float, ...] = (
    14.0, 10.5, 5.0, 2.6, 1.6, 1.3, 1.6, 2.6,  # 0–7 h
    4.6, 6.6, 7.6, 7.6, 6.0, 6.0, 6.6, 6.6,  # 8–15 h
    6.6, 6.6, 7.0, 9.0, 12.5, 10.0, 8.6, 8.0,  # 16–23 h
)  # fmt: skip
#: How many times an ordinary day's volume arrives on 双11 (the default of :func:`intraday_curve`).
DOUBLE_11_VOLUME_FACTOR = 6.0

Profile = Literal["normal", "double11"]


# --------------------------------------------------------------------------------------------- arrivals


def _hour_of_day(local_time: time | datetime | float) -> float:
    if isinstance(local_time, int | float):
        return float(local_time) % 24.0
    return local_time.hour + local_time.minute / 60 + (local_time.second + local_time.microsecond / 1e6) / 3600


@dataclass(frozen=True)
class IntradayCurve:
    """Contact rate by local time of day, scaled so that one whole day brings ``daily_volume`` contacts.

    ``hourly_weights[h]`` is the relative volume of local hour ``h``; the rate is the periodic
    piecewise-linear curve through ``(h + 0.5, weight_h)``, smooth at the hour boundaries, and its
    integral over any 24 hours is exactly ``daily_volume``.
    """

    daily_volume: float
    hourly_weights: tuple[float, ...] = NORMAL_DAY

    def __post_init__(self) -> None:
        if len(self.hourly_weights) != 24:
            raise ValueError("an intraday curve needs 24 hourly weights")
        if any(w < 0 or not math.isfinite(w) for w in self.hourly_weights) or sum(self.hourly_weights) <= 0:
            raise ValueError("hourly weights must be finite, non-negative and not all zero")
        if self.daily_volume < 0 or not math.isfinite(self.daily_volume):
            raise ValueError("the daily volume must be a non-negative number")

    @property
    def _scale(self) -> float:
        return self.daily_volume / sum(self.hourly_weights)

    def rate_per_hour(self, local_time: time | datetime | float) -> float:
        """Expected contacts per hour at ``local_time`` (a time, the local part of a datetime, or hours 0–24)."""
        x = _hour_of_day(local_time) - 0.5
        i = math.floor(x)
        w0, w1 = self.hourly_weights[i % 24], self.hourly_weights[(i + 1) % 24]
        return self._scale * (w0 + (x - i) * (w1 - w0))

    def peak_rate_per_hour(self) -> float:
        """The maximum of :meth:`rate_per_hour` (reached at the half hour of the heaviest hour)."""
        return self._scale * max(self.hourly_weights)

    def expected_between(self, start_hour: float, end_hour: float) -> float:
        """Exact expected contacts from local hour ``start_hour`` to ``end_hour`` (may exceed 24: next days)."""
        if end_hour <= start_hour:
            return 0.0
        total, x = 0.0, start_hour
        while x < end_hour:
            knot = math.floor(x - 0.5) + 1.5  # the next corner of the piecewise-linear curve
            y = min(end_hour, knot)
            total += (self.rate_per_hour(x) + self.rate_per_hour(y)) / 2 * (y - x)
            x = y
        return total


def intraday_curve(daily_volume: float, profile: Profile = "normal") -> IntradayCurve:
    """The curve of an ordinary day with ``daily_volume`` contacts, or of 双11 for a shop of that size
    (then ``DOUBLE_11_VOLUME_FACTOR`` times the volume, shaped by ``DOUBLE_11``)."""
    if profile == "normal":
        return IntradayCurve(daily_volume, NORMAL_DAY)
    if profile == "double11":
        return IntradayCurve(daily_volume * DOUBLE_11_VOLUME_FACTOR, DOUBLE_11)
    raise ValueError(f"unknown traffic profile {profile!r}; expected 'normal' or 'double11'")


def thinning(
    rate: Callable[[float], float], rate_max: float, start: float, end: float, rng: random.Random
) -> list[float]:
    """Arrival instants in ``[start, end)`` of a non-homogeneous Poisson process (Lewis–Shedler thinning).

    Candidates come from a homogeneous process of rate ``rate_max``; each is kept with probability
    ``rate(t) / rate_max``. ``rate`` must never exceed ``rate_max`` (checked). Sorted ascending.
    """
    if end <= start or rate_max <= 0:
        return []
    arrivals: list[float] = []
    t = start
    while True:
        t += rng.expovariate(rate_max)
        if t >= end:
            return arrivals
        r = rate(t)
        if r > rate_max * (1 + 1e-9):
            raise ValueError(f"rate {r} at {t} exceeds the bound {rate_max} given for thinning")
        if rng.random() * rate_max < r:
            arrivals.append(t)


def _local_hours(start: datetime, tz: tzinfo) -> Callable[[float], float]:
    if start.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes")
    base = start

    def hours(offset_s: float) -> float:
        return _hour_of_day((base + timedelta(seconds=offset_s)).astimezone(tz))

    return hours


def arrival_offsets(
    curve: IntradayCurve,
    start: datetime,
    end: datetime,
    rng: random.Random,
    *,
    tz: tzinfo = SHANGHAI,
    speed: float = 1.0,
) -> list[float]:
    """Seconds after ``start`` at which visitors arrive in ``[start, end)``, divided by ``speed``.

    ``start`` and ``end`` are aware datetimes; the curve is read in local time of ``tz``. With
    ``speed=1`` the offsets are simulated seconds; with ``speed=TimeScale.day_in(10).speed`` they are
    wall-clock seconds of a day played in ten minutes.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    hours = _local_hours(start, tz)
    seconds = (end - start).total_seconds()
    peak = curve.peak_rate_per_hour() / SECONDS_PER_HOUR
    arrivals = thinning(lambda t: curve.rate_per_hour(hours(t)) / SECONDS_PER_HOUR, peak, 0.0, seconds, rng)
    return arrivals if speed == 1 else [t / speed for t in arrivals]


def arrival_times(
    curve: IntradayCurve, start: datetime, end: datetime, rng: random.Random, *, tz: tzinfo = SHANGHAI
) -> list[datetime]:
    """The same arrivals as :func:`arrival_offsets` (speed 1), as aware datetimes."""
    return [start + timedelta(seconds=t) for t in arrival_offsets(curve, start, end, rng, tz=tz)]


def expected_arrivals(curve: IntradayCurve, start: datetime, end: datetime, *, tz: tzinfo = SHANGHAI) -> float:
    """The integral of the curve over ``[start, end)``: the mean number of arrivals there.

    Exact while the UTC offset of ``tz`` is constant within each whole UTC hour (true of every zone
    whose changes fall on the hour, and of Asia/Shanghai always).
    """
    hours = _local_hours(start, tz)
    seconds = (end - start).total_seconds()
    total, t = 0.0, 0.0
    while t < seconds:
        step = min(seconds - t, SECONDS_PER_HOUR - ((start.timestamp() + t) % SECONDS_PER_HOUR))
        h0 = hours(t)
        total += curve.expected_between(h0, h0 + step / SECONDS_PER_HOUR)
        t += step
    return total


@dataclass(frozen=True)
class TimeScale:
    """Simulated time played faster than real time: ``speed`` simulated seconds per wall-clock second."""

    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")

    @classmethod
    def day_in(cls, minutes: float) -> TimeScale:
        """The scale that plays a whole day in ``minutes`` wall-clock minutes."""
        return cls(SECONDS_PER_DAY / (minutes * 60))

    def wall_s(self, sim_s: float) -> float:
        return sim_s / self.speed

    def sim_s(self, wall_s: float) -> float:
        return wall_s * self.speed


# ------------------------------------------------------------------------------------ random variates


def lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    """A lognormal draw with the given *mean* (not median) and shape ``sigma``."""
    if mean <= 0:
        return 0.0
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def exponential(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1 / mean) if mean > 0 else 0.0


def _weighted(rng: random.Random, weights: Mapping[int, float]) -> int:
    values = list(weights)
    return rng.choices(values, weights=[weights[v] for v in values])[0]


# ------------------------------------------------------------------------------------------- visitors

Escalate = Literal["never", "if_miss", "always"]
Mood = Literal["calm", "angry"]

#: Probability to ask for a person after (a bot hit, a bot miss), by kind of question.
DEFAULT_ESCALATION: Mapping[str, tuple[float, float]] = {
    "kb": (0.10, 0.55),
    "uncovered": (0.20, 0.60),
    "complaint": (0.80, 0.90),
    "chitchat": (0.02, 0.10),
}
#: Ratings (1–5) of a calm and of an angry visitor who rates: mostly 5, some 4, a few 1–3.
CALM_RATINGS: Mapping[int, float] = {5: 0.76, 4: 0.14, 3: 0.05, 2: 0.02, 1: 0.03}
ANGRY_RATINGS: Mapping[int, float] = {5: 0.10, 4: 0.10, 3: 0.20, 2: 0.20, 1: 0.40}


@dataclass(frozen=True)
class Question:
    """One thing a visitor types to the bot (see the module docstring for how a driver plays it)."""

    text: str
    kind: QuestionKind
    kb_question: str | None  # ground truth: the standard question the bot should match
    think_s: float  # pause before sending: after connecting, or after the bot's previous reply
    escalate: Escalate  # ask for a person after the bot's reply: never, only if the bot missed, always
    human_text: str  # how this visitor asks for a person
    human_after_s: float  # pause between the bot's reply and asking for a person
    rates_answer: bool  # marks the bot's answer helpful / not helpful
    #: When the bot offers suggestions (您是不是想问) with his question among them, he picks it after this
    #: pause; None: he does not pick one (reads past them).
    pick_after_s: float | None = None


@dataclass(frozen=True)
class ChatLine:
    text: str
    delay_s: float  # think and typing time, counted from the agent message it answers


@dataclass(frozen=True)
class VisitorPlan:
    visitor_id: str
    arrival_s: float  # simulated seconds after the start of the run
    mood: Mood
    order_no: str
    questions: tuple[Question, ...]
    patience_s: float  # longest wait in the queue before abandoning
    chat_lines: tuple[ChatLine, ...]  # what the visitor says to the agent, in order
    rating: int | None  # 1–5, or None: leaves without rating
    rating_after_s: float  # after the conversation ends
    leave_after_s: float  # after the last bot reply (bot only) or after rating / the end

    @property
    def wants_human_first(self) -> bool:
        return bool(self.questions) and self.questions[0].kind == "human"


@dataclass(frozen=True)
class VisitorBehaviour:
    """Parameters of simulated visitors; :meth:`plan` draws one visitor."""

    question_count_weights: tuple[float, ...] = (0.6, 0.3, 0.1)  # P(1 question), P(2), P(3)
    out_of_scope_share: float = 0.15  # of questions: small talk, uncovered topics, complaints
    human_first_share: float = 0.06  # visitors whose first words ask for a person
    escalation: Mapping[str, tuple[float, float]] | None = None  # None: DEFAULT_ESCALATION
    angry_share: float = 0.1
    first_think_mean_s: float = 8.0  # from connecting to the first message
    think_mean_s: float = 4.0  # reading a reply and deciding what to say
    think_sigma: float = 0.6
    typing_chars_per_s: float = 2.5
    patience_mean_s: float = 120.0  # exponential patience in the agent queue
    order_number_share: float = 0.55  # gives an order number to the agent
    extra_lines: tuple[int, int] = (0, 2)  # further lines to the agent, besides the question and thanks
    rating_share: float = 0.7  # of calm visitors who talked to an agent
    angry_rating_share: float = 0.85
    calm_ratings: Mapping[int, float] | None = None  # None: CALM_RATINGS
    angry_ratings: Mapping[int, float] | None = None  # None: ANGRY_RATINGS
    answer_feedback_share: float = 0.3  # rates a bot answer
    suggestion_pick_share: float = 0.7  # picks his question when the bot suggests it
    pick_mean_s: float = 3.0  # reading the suggestions before picking one
    order_age_days: int = 10  # order numbers are of orders placed up to this many days ago

    def typing_s(self, text: str) -> float:
        return len(text) / self.typing_chars_per_s

    def reply_delay_s(self, rng: random.Random, text: str) -> float:
        """Think (lognormal) and typing time before the visitor sends ``text``."""
        return lognormal(rng, self.think_mean_s, self.think_sigma) + self.typing_s(text)

    def plan(
        self, rng: random.Random, script: Script, arrival_s: float, today: date, visitor_id: str = ""
    ) -> VisitorPlan:
        """One visitor arriving ``arrival_s`` simulated seconds into the run on local date ``today``."""
        mood: Mood = "angry" if rng.random() < self.angry_share else "calm"
        order_no = order_number(rng, today - timedelta(days=rng.randint(0, self.order_age_days)))
        escalation = self.escalation or DEFAULT_ESCALATION
        questions: list[Question] = []
        if rng.random() < self.human_first_share:
            text = script.pick_human_request(rng)
            think = lognormal(rng, self.first_think_mean_s, self.think_sigma) + self.typing_s(text)
            questions.append(Question(text, "human", None, think, "always", text, 0.0, False))
            topic = script.pick_kb_question(rng)  # what they want to talk about with the agent
        else:
            count = rng.choices(range(1, len(self.question_count_weights) + 1), self.question_count_weights)[0]
            asked: list[str] = []
            for i in range(count):
                if rng.random() < self.out_of_scope_share:
                    topic = script.pick_out_of_scope(rng)
                else:
                    topic = script.pick_kb_question(rng, exclude=asked)
                    asked.append(topic.kb_question or "")
                think_mean = self.first_think_mean_s if i == 0 else self.think_mean_s
                think = lognormal(rng, think_mean, self.think_sigma) + self.typing_s(topic.text)
                p_hit, p_miss = escalation.get(topic.kind, escalation["kb"])
                u = rng.random()
                escalate: Escalate = "always" if u < p_hit else "if_miss" if u < max(p_hit, p_miss) else "never"
                human_text = script.pick_human_request(rng)
                human_after = self.reply_delay_s(rng, human_text)
                rates = rng.random() < self.answer_feedback_share
                picks = rng.random() < self.suggestion_pick_share
                pick_after = lognormal(rng, self.pick_mean_s, self.think_sigma) if picks else None
                questions.append(
                    Question(
                        topic.text,
                        topic.kind,
                        topic.kb_question,
                        think,
                        escalate,
                        human_text,
                        human_after,
                        rates,
                        pick_after,
                    )
                )
                if escalate == "always":
                    break  # what would follow is never asked
        chat_lines = self._chat_lines(rng, script, topic, mood, order_no)
        rates_share = self.angry_rating_share if mood == "angry" else self.rating_share
        ratings = (self.angry_ratings or ANGRY_RATINGS) if mood == "angry" else (self.calm_ratings or CALM_RATINGS)
        rating = _weighted(rng, ratings) if rng.random() < rates_share else None
        return VisitorPlan(
            visitor_id=visitor_id,
            arrival_s=arrival_s,
            mood=mood,
            order_no=order_no,
            questions=tuple(questions),
            patience_s=exponential(rng, self.patience_mean_s),
            chat_lines=chat_lines,
            rating=rating,
            rating_after_s=lognormal(rng, self.think_mean_s, self.think_sigma),
            leave_after_s=lognormal(rng, self.think_mean_s * 2, self.think_sigma),
        )

    def _chat_lines(
        self, rng: random.Random, script: Script, topic: PickedQuestion, mood: Mood, order_no: str
    ) -> tuple[ChatLine, ...]:
        texts = [topic.text]
        if rng.random() < self.order_number_share:
            texts.append(script.follow_up(rng, "order_number", order_no))
        about_delivery = topic.kb_question is not None and script.entry(topic.kb_question).topic in ("物流", "订单")
        pool = ["angry", "question"] if mood == "angry" else ["detail", "question"]
        if about_delivery:
            pool.append("not_received")
        for _ in range(rng.randint(*self.extra_lines)):
            texts.append(script.follow_up(rng, rng.choice(pool)))
        texts.append(script.follow_up(rng, "confirm"))
        if mood == "calm" or rng.random() < 0.3:
            texts.append(script.follow_up(rng, "thanks"))
        return tuple(ChatLine(t, self.reply_delay_s(rng, t)) for t in texts)


def plan_visitors(
    curve: IntradayCurve,
    start: datetime,
    end: datetime,
    rng: random.Random,
    script: Script,
    behaviour: VisitorBehaviour | None = None,
    *,
    tz: tzinfo = SHANGHAI,
) -> list[VisitorPlan]:
    """Every visitor of ``[start, end)``: arrivals by thinning, then one plan each (ordered by arrival).

    Each visitor draws from its own generator seeded from ``rng``, so a change in what one visitor does
    does not shift the others.
    """
    behaviour = behaviour or VisitorBehaviour()
    plans: list[VisitorPlan] = []
    for i, offset in enumerate(arrival_offsets(curve, start, end, rng, tz=tz)):
        own = random.Random(rng.getrandbits(64))  # noqa: S311 - simulation, not security
        today = (start + timedelta(seconds=offset)).astimezone(tz).date()
        plans.append(behaviour.plan(own, script, offset, today, visitor_id=f"sim-{i + 1:06d}"))
    return plans


# --------------------------------------------------------------------------------------------- agents

AgentStatus = Literal["online", "away", "offline"]
QUICK_REPLY_PURPOSES = frozenset({"greeting", "ask_order_number", "checking", "ask_more", "closing"})


class Step(NamedTuple):
    """A timed step of a plan: ``at_s`` simulated seconds after the plan's origin, do ``action``."""

    at_s: float
    action: str
    payload: Mapping[str, str]


@dataclass(frozen=True)
class AgentReply:
    purpose: str  # one of script.AGENT_PURPOSES
    text: str
    think_s: float
    typing_s: float  # short for quick replies (快捷回复) and pasted KB answers, else the time to type the text
    reading_chars_per_s: float

    def delay_s(self, incoming_chars: int = 0) -> float:
        """From the visitor's message (of ``incoming_chars`` characters) to this reply."""
        return self.think_s + self.typing_s + incoming_chars / self.reading_chars_per_s


@dataclass(frozen=True)
class AgentConversationPlan:
    accept_after_s: float  # grabbing a broadcast conversation after it is offered
    replies: tuple[AgentReply, ...]  # greeting first, closing last
    end_after_s: float  # from the closing reply to ending the conversation
    idle_close_s: float  # visitor silent this long after the agent's last message: close now

    @property
    def exchanges(self) -> int:
        """K: the replies between greeting and closing."""
        return len(self.replies) - 2


@dataclass(frozen=True)
class AgentBehaviour:
    """Parameters of simulated agents (坐席)."""

    think_mean_s: float = 6.0  # lognormal; with typing and reading a reply takes ~8–20 s on average
    think_sigma: float = 0.6
    typing_chars_per_s: float = 2.5
    quick_reply_mean_s: float = 1.5  # picking a canned reply
    reading_chars_per_s: float = 8.0
    accept_mean_s: float = 4.0
    exchanges: tuple[int, int] = (2, 5)  # K drawn uniformly in this range (at most 5)
    end_mean_s: float = 20.0
    idle_close_s: float = 180.0
    breaks_per_hour: float = 0.4  # rate of going 'away'
    break_mean_s: float = 480.0

    def reply_delay_s(self, rng: random.Random, incoming_chars: int, outgoing_chars: int) -> float:
        """Read the visitor's message, think (lognormal), type the answer: seconds before it is sent."""
        think = lognormal(rng, self.think_mean_s, self.think_sigma)
        return think + outgoing_chars / self.typing_chars_per_s + incoming_chars / self.reading_chars_per_s

    def _reply(self, rng: random.Random, purpose: str, text: str, pasted: bool = False) -> AgentReply:
        think = lognormal(rng, self.think_mean_s, self.think_sigma)
        if pasted or purpose in QUICK_REPLY_PURPOSES:
            typing = lognormal(rng, self.quick_reply_mean_s, self.think_sigma)
        else:
            typing = len(text) / self.typing_chars_per_s
        return AgentReply(purpose, text, think, typing, self.reading_chars_per_s)

    def conversation_plan(
        self, rng: random.Random, script: Script, kb_answer: str | None = None
    ) -> AgentConversationPlan:
        """One conversation with K exchanges; ``kb_answer``: the KB answer to give first, when the agent has it."""
        low, high = self.exchanges
        k = max(1, min(rng.randint(low, high), 5))
        optional = ["ask_order_number", "checking", "apology", "answer", "ask_more"]
        middle = ["answer"]
        while len(middle) < k:
            middle.append(optional.pop(rng.randrange(len(optional))))
        order = {p: i for i, p in enumerate(["ask_order_number", "checking", "apology", "answer", "ask_more"])}
        middle.sort(key=lambda p: order[p])
        replies = [self._reply(rng, "greeting", script.agent_line(rng, "greeting"))]
        for purpose in middle:
            if purpose == "answer" and kb_answer is not None:  # found in the knowledge base and pasted
                replies.append(self._reply(rng, purpose, kb_answer, pasted=True))
                kb_answer = None
            else:
                replies.append(self._reply(rng, purpose, script.agent_line(rng, purpose)))
        replies.append(self._reply(rng, "closing", script.agent_line(rng, "closing")))
        return AgentConversationPlan(
            accept_after_s=lognormal(rng, self.accept_mean_s, self.think_sigma),
            replies=tuple(replies),
            end_after_s=lognormal(rng, self.end_mean_s, self.think_sigma),
            idle_close_s=self.idle_close_s,
        )

    def shift_plan(self, rng: random.Random, start_s: float, end_s: float) -> tuple[Step, ...]:
        """Status changes over a shift: online at ``start_s``, breaks ('away') now and then, offline at ``end_s``."""

        def status(at: float, value: AgentStatus) -> Step:
            return Step(at, "set_status", {"status": value})

        steps = [status(start_s, "online")]
        t = start_s
        while self.breaks_per_hour > 0:
            t += exponential(rng, SECONDS_PER_HOUR / self.breaks_per_hour)
            if t >= end_s:
                break
            steps.append(status(t, "away"))
            t += lognormal(rng, self.break_mean_s, 0.5)
            if t >= end_s:
                break
            steps.append(status(t, "online"))
        steps.append(status(end_s, "offline"))
        return tuple(steps)


def mean_rating(ratings: Mapping[int, float]) -> float:
    """The mean of a rating distribution (weights need not sum to 1)."""
    return sum(score * w for score, w in ratings.items()) / sum(ratings.values())
