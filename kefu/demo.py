"""The demo tenant: a fictional online shop with a head office, three regions and three skill groups.

Seeding goes through the same actions as the API (so the demo also has its events) and is idempotent:
running it again finds what exists and adds only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import caller_for
from kefu.actions.channels import do_update_channel
from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
from kefu.actions.teams import do_add_team_member, do_create_team
from kefu.actions.tenants import do_create_tenant
from kefu.actions.users import do_create_user
from kefu.db.session import Database
from kefu.kb import load_demo_kb
from kefu.models.channel import Channel, ChannelKind
from kefu.models.kb import KbEntry
from kefu.models.skill_group import DistributionMode, SkillGroup
from kefu.models.staff import Role, User
from kefu.models.team import Team
from kefu.models.tenant import Tenant
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
from kefu.schemas.team import TeamCreate
from kefu.schemas.user import UserCreate

DEMO_SLUG = "demo"
#: Printed by `kefu demo` for the local demo tenant only.
DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105

HEAD_OFFICE = "总部"
REGIONS = [("华东大区", "east", "陈"), ("华南大区", "south", "林"), ("华北大区", "north", "赵")]
SKILL_GROUPS = [
    ("售前", "商品咨询、库存、优惠活动", DistributionMode.round_robin),
    ("售后", "退换货、退款、维修", DistributionMode.broadcast_grab),
    ("技术支持", "App 使用、账号、发票", DistributionMode.least_busy),
]
#: Which skill groups each team's agents serve.
SERVES = {
    "hq": ["售前", "售后", "技术支持"],
    "east": ["售前", "售后"],
    "south": ["售后", "售前"],
    "north": ["技术支持", "售前"],
}
AGENT_NAMES = ["小美", "小帅", "小雪"]


@dataclass
class DemoInfo:
    tenant_slug: str
    widget_key: str
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, username, display name)
    password: str = DEMO_PASSWORD


def seed_demo(database: Database) -> DemoInfo:
    with database.session() as db:
        tenant = db.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if tenant is None:
            tenant = do_create_tenant(
                db,
                slug=DEMO_SLUG,
                name="演示商城 Demo Shop",
                admin_username="admin",
                admin_password=DEMO_PASSWORD,
                admin_display_name="系统管理员",
            ).tenant
        admin = db.scalars(select(User).where(User.tenant_id == tenant.id, User.username == "admin")).one()
        info = DemoInfo(tenant_slug=tenant.slug, widget_key=_widget_key(db, tenant.id))
        info.logins.append(("admin", "admin", admin.display_name))
        as_admin = caller_for(db, admin)

        hq = _team(db, as_admin, HEAD_OFFICE, None)
        teams = {"hq": hq} | {code: _team(db, as_admin, name, hq.id) for name, code, _ in REGIONS}
        surnames = {"hq": "王"} | {code: surname for _, code, surname in REGIONS}

        groups = {name: _skill_group(db, as_admin, name, desc, mode, hq.id) for name, desc, mode in SKILL_GROUPS}
        web = db.scalars(select(Channel).where(Channel.tenant_id == tenant.id, Channel.kind == ChannelKind.web)).one()
        if web.default_skill_group_id is None:
            # Until the bot answers first, a visitor's first message goes to 售前.
            do_update_channel(db, as_admin, web.id, default_skill_group_id=groups["售前"].id)

        for code, team in teams.items():
            sup = _user(db, as_admin, f"sup_{code}", f"{surnames[code]}主管", Role.supervisor, team.id)
            info.logins.append(("supervisor", sup.username, f"{sup.display_name}（{team.name}）"))
            for i, nickname in enumerate(AGENT_NAMES, start=1):
                agent = _user(db, as_admin, f"{code}_agent{i}", f"{team.name[:2]}-{nickname}", Role.agent, team.id)
                for priority, group_name in enumerate(SERVES[code]):
                    do_set_skill_group_agent(
                        db, as_admin, groups[group_name].id, agent.id, SkillGroupAgentSet(priority=priority)
                    )
                if i == 1:
                    info.logins.append(("agent", agent.username, f"{agent.display_name}（{team.name}）"))
        if db.scalar(select(KbEntry.id).where(KbEntry.tenant_id == tenant.id).limit(1)) is None:
            # The shop's FAQ (kefu/demo_data/shop_kb.csv), once: later edits in the console are kept; and
            # the bot answers from it first (until the admin turns it off in the widget settings).
            load_demo_kb(db, tenant.id)
            if "bot_enabled" not in (web.config or {}):
                do_update_channel(db, as_admin, web.id, config={**(web.config or {}), "bot_enabled": True})
        qa = _user(db, as_admin, "qa", "质检-周", Role.inspector, teams["east"].id)
        do_add_team_member(db, as_admin, teams["south"].id, qa.id)
        info.logins.append(("inspector", qa.username, f"{qa.display_name}（华东、华南）"))
        return info


def _widget_key(db: Session, tenant_id: int) -> str:
    key = db.scalar(select(Channel.widget_key).where(Channel.tenant_id == tenant_id, Channel.kind == ChannelKind.web))
    return key or ""


def _team(db: Session, caller: Caller, name: str, parent_id: int | None) -> Team:
    q = select(Team).where(Team.tenant_id == caller.tenant_id, Team.name == name)
    q = q.where(Team.parent_id.is_(None)) if parent_id is None else q.where(Team.parent_id == parent_id)
    return db.scalar(q) or do_create_team(db, caller, TeamCreate(name=name, parent_id=parent_id))


def _skill_group(db: Session, caller: Caller, name: str, desc: str, mode: DistributionMode, team_id: int) -> SkillGroup:
    existing = db.scalar(select(SkillGroup).where(SkillGroup.tenant_id == caller.tenant_id, SkillGroup.name == name))
    return existing or do_create_skill_group(
        db, caller, SkillGroupCreate(name=name, team_id=team_id, mode=mode, description=desc)
    )


def _user(db: Session, caller: Caller, username: str, display: str, role: Role, team_id: int) -> User:
    existing = db.scalar(select(User).where(User.tenant_id == caller.tenant_id, User.username == username))
    return existing or do_create_user(
        db,
        caller,
        UserCreate(username=username, display_name=display, role=role, password=DEMO_PASSWORD, team_ids=[team_id]),
    )
