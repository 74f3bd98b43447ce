"""The bot's KPIs for a period (机器人数据): self-service resolution, hand-over, answer and helpful rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, UploadFile
from sqlalchemy import select

from kefu.api.deps import CallerDep, DbDep, LangDep
from kefu.bot.kpi import BotKpis, hour_starts
from kefu.bot.kpi_query import bucketed_kpis, daily_kpis, period_kpis
from kefu.bot.trial import TRIAL_LAYOUT, KnownEntries, TrialRejected, plan_trial, run_trial, template
from kefu.db.base import utcnow
from kefu.errors import Forbidden, Invalid, Msg
from kefu.kb.io import MAX_FILE_BYTES, MEDIA_TYPES, read_table
from kefu.models.kb import KbEntry
from kefu.models.tenant import Tenant
from kefu.schemas.bot import BotDaily, BotDay, BotHour, BotHourly, BotTrialHit, BotTrialOut, BotTrialRow

router = APIRouter(prefix="/bot", tags=["机器人 bot"])

MAX_DAYS = 92
_KPIS_ADMIN_ONLY = Msg("只有管理员可以查看机器人指标", "only an administrator sees the bot's KPIs")
_TRIAL_ADMIN_ONLY = Msg("只有管理员可以测试机器人", "only an administrator can test the bot")


def _require_admin(caller: CallerDep, msg: Msg, code: str | None = None) -> None:
    if not caller.is_admin:
        raise Forbidden(msg, code=code)


class BotStats(BotKpis):
    since: datetime
    until: datetime


@router.get("/stats", response_model=BotStats, summary="机器人指标 / the bot's KPIs for a period (default: 7 days)")
def bot_stats(
    caller: CallerDep,
    db: DbDep,
    since: Annotated[datetime | None, Query(description="start (ISO 8601, with time zone)")] = None,
    until: Annotated[datetime | None, Query(description="end, exclusive; default now")] = None,
) -> BotStats:
    _require_admin(caller, _KPIS_ADMIN_ONLY)
    end = until or utcnow()
    start = since or end - timedelta(days=7)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid(Msg("时间须带时区", "times need a time zone (e.g. +08:00)"), code="time.no_zone")
    if not start < end or end - start > timedelta(days=MAX_DAYS):
        raise Invalid(
            Msg(
                f"时间段须在 {MAX_DAYS} 天以内且开始早于结束", f"the period must be under {MAX_DAYS} days, start first"
            ),
            code="time.range",
        )
    kpis = period_kpis(db, caller.tenant_id, start, end)
    return BotStats(since=start, until=end, **kpis.model_dump())


@router.get(
    "/stats/daily",
    response_model=BotDaily,
    summary="机器人每日指标 / the bot's KPIs of each of the last days, in the tenant's time zone",
    description="每个会话计入机器人首次回复当天（租户时区），包括其后（含次日）发生的一切。"
    " / Each conversation counts on the local day of the bot's first reply in it, with all that followed.",
)
def bot_stats_daily(
    caller: CallerDep,
    db: DbDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="how many days, today included")] = 14,
) -> BotDaily:
    _require_admin(caller, _KPIS_ADMIN_ONLY)
    tenant = db.get_one(Tenant, caller.tenant_id)
    tz = ZoneInfo(tenant.time_zone)
    today = utcnow().astimezone(tz).date()
    dates = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    daily, total = daily_kpis(db, caller.tenant_id, tz, dates)
    return BotDaily(
        time_zone=tenant.time_zone,
        days=[BotDay(date=d, **k.model_dump()) for d, k in daily],
        total=total,
    )


@router.get(
    "/stats/hourly",
    response_model=BotHourly,
    summary="机器人每小时指标 / the bot's KPIs of each hour of one day, in the tenant's time zone",
    description="默认今天；每个会话计入机器人首次回复的那一小时。可查最近 92 天内的某一天。"
    " / Default today; each conversation counts in the hour of the bot's first reply in it. Any day of the "
    "last 92.",
)
def bot_stats_hourly(
    caller: CallerDep,
    db: DbDep,
    day: Annotated[date | None, Query(alias="date", description="the local day (YYYY-MM-DD); default today")] = None,
) -> BotHourly:
    _require_admin(caller, _KPIS_ADMIN_ONLY)
    tenant = db.get_one(Tenant, caller.tenant_id)
    tz = ZoneInfo(tenant.time_zone)
    today = utcnow().astimezone(tz).date()
    day = day or today
    if not today - timedelta(days=MAX_DAYS - 1) <= day <= today:
        raise Invalid(
            Msg(f"只能查看最近 {MAX_DAYS} 天内的某一天", f"the day must be one of the last {MAX_DAYS}"),
            code="time.range",
        )
    starts = hour_starts(tz, day)
    hours, total = bucketed_kpis(db, caller.tenant_id, starts)
    return BotHourly(
        time_zone=tenant.time_zone,
        date=day,
        hours=[BotHour(start=s.astimezone(tz), **k.model_dump()) for s, k in zip(starts[:-1], hours, strict=True)],
        total=total,
    )


# --- 机器人测试: the bot on a list of questions ------------------------------------------------------------


@router.post(
    "/trial",
    response_model=BotTrialOut,
    summary="机器人测试 / ask the bot every question of a file (administrators)",
    description="上传 .xlsx 或 .csv（列：问题、标准问题；标准问题填应回答它的条目的标准问题或编号，留空表示不应回答），"
    "机器人按访客看到的方式回答每个问题（当前知识库、词典、同义词、生效期与阈值），返回与 kefu bot eval 相同的指标"
    "以及每一行的结果。先校验整个文件：有误的行以 422 返回（error.errors）。不写入任何数据。"
    " / Upload .xlsx or .csv (columns 问题 and 标准问题: the standard question or number of the entry that "
    "should answer, empty when none should). The bot answers each as a visitor would be answered (the "
    "knowledge base, dictionary, synonyms, validity periods and thresholds of now); the answer has the "
    "metrics of `kefu bot eval` and every row's result. Bad rows: 422 with error.errors. Nothing is stored.",
)
def bot_trial(file: UploadFile, request: Request, caller: CallerDep, db: DbDep, lang: LangDep) -> BotTrialOut:
    _require_admin(caller, _TRIAL_ADMIN_ONLY, "bot.admin_only")
    table = read_table(file.file.read(MAX_FILE_BYTES + 1), file.filename, TRIAL_LAYOUT)
    entries = db.execute(
        select(KbEntry.id, KbEntry.standard_question).where(
            KbEntry.tenant_id == caller.tenant_id, KbEntry.enabled.is_(True)
        )
    ).all()
    known = KnownEntries.of([(e.id, e.standard_question) for e in entries])
    try:
        queries = plan_trial(table, known)
    except TrialRejected as e:
        raise Invalid(e.msg, code=e.code, rows=e.rows, errors=[err.to_dict(lang) for err in e.errors]) from e
    db.rollback()  # no transaction held open while the bot answers
    bot = request.app.state.live.bot.registry.bot_for(caller.tenant_id)
    trial = run_trial(bot, queries, utcnow())
    question = known.standard.get
    return BotTrialOut(
        **trial.report.as_dict(),
        verdicts=trial.verdicts(),
        thresholds_source=bot.matcher.thresholds.source,
        rows=[
            BotTrialRow(
                row=r.row,
                query=r.query,
                expected_id=int(r.expected_id) if r.expected_id else None,
                expected_question=question(r.expected_id) if r.expected_id else None,
                outcome=r.outcome.value,
                verdict=r.verdict,
                rank=r.rank,
                hits=[
                    BotTrialHit(
                        entry_id=int(h.entry_id),
                        standard_question=question(h.entry_id) or h.matched_question,
                        matched_question=h.matched_question,
                        score=round(h.score, 4),
                    )
                    for h in r.hits
                ],
            )
            for r in trial.rows
        ],
    )


@router.get(
    "/trial/template",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}}, "description": "文件 / the file"}},
    summary="下载机器人测试模板 / the question-list template, with two example rows",
)
def bot_trial_template(caller: CallerDep, format: Literal["xlsx", "csv"] = "xlsx") -> Response:
    _require_admin(caller, _TRIAL_ADMIN_ONLY, "bot.admin_only")
    return Response(
        content=template(format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="bot-test-template.{format}"'},
    )
