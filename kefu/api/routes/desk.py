"""What the agent workspace shows beside a conversation: the customer and his earlier conversations, and
whom the conversation can be transferred to (坐席工作台：客户信息、转接对象).

Both read through ``access_conversation`` (the staff conversation API's scope), so whoever may not see the
conversation gets the same 404 as for a missing id; earlier conversations are only those the caller may see.

Transfer targets are the whole tenant's skill groups and their agents, not only the caller's subtree: a
customer goes where his problem is handled (售前 → 售后, a regional team → head office), and an agent's
scope limits what he sees and supervises, not where he may hand a customer. The receiving team owns the
conversation from then on (its ``team_id``), so the sender stops seeing it unless it is in his scope.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from kefu.access.scope import access_conversation, conversation_visible_clause, skill_group_visible_clause
from kefu.api.deps import CallerDep, DbDep
from kefu.api.params import PathId
from kefu.models.channel import Channel
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.skill_group import SkillGroup, SkillGroupAgent
from kefu.models.staff import Role, User
from kefu.models.team import Team
from kefu.models.visitor import Visitor

router = APIRouter(prefix="/conversations", tags=["会话 conversations"])

EARLIER_LIMIT = 20


class VisitorCard(BaseModel):
    id: int
    name: str
    external_id: str | None = Field(description="企业自己的客户编号（已登录客户）/ the shop's customer id")
    phone: str | None
    email: str | None
    is_vip: bool
    created_at: datetime
    last_seen_at: datetime | None


class EarlierConversation(BaseModel):
    id: int
    status: ConversationStatus
    channel_name: str
    skill_group_name: str | None
    agent_name: str | None
    created_at: datetime
    ended_at: datetime | None
    rating: int | None
    last_seq: int


class CustomerInfo(BaseModel):
    visitor: VisitorCard
    channel_id: int
    channel_name: str
    conversations_total: int = Field(description="该客户的会话总数（仅计可见的）/ his conversations the caller may see")
    earlier: list[EarlierConversation] = Field(
        description="最近的其他会话，新的在前 / latest other conversations first"
    )


class TransferAgent(BaseModel):
    user_id: int
    display_name: str
    status: str
    load: int = Field(description="进行中的会话数 / active conversations now")
    max_concurrent: int


class TransferGroup(BaseModel):
    skill_group_id: int
    name: str
    mode: str
    team_id: int
    team_name: str
    own: bool = Field(description="调用者范围内的技能组 / a group of the caller's own scope (listed first)")


class TransferTargets(BaseModel):
    agents: list[TransferAgent]
    groups: list[TransferGroup]


@router.get(
    "/{conversation_id}/customer",
    response_model=CustomerInfo,
    summary="会话的客户信息与历史会话 / the customer and his earlier conversations",
)
def customer_of(conversation_id: PathId, caller: CallerDep, db: DbDep) -> CustomerInfo:
    conv = access_conversation(db, caller, conversation_id)
    visitor = db.get_one(Visitor, conv.visitor_id)
    names = {
        cid: name
        for cid, name in db.execute(select(Channel.id, Channel.name).where(Channel.tenant_id == caller.tenant_id))
    }
    mine = (
        Conversation.tenant_id == caller.tenant_id,
        Conversation.visitor_id == visitor.id,
        conversation_visible_clause(caller),
    )
    total = db.scalar(select(func.count()).select_from(Conversation).where(*mine)) or 0
    rows = db.execute(
        select(Conversation, SkillGroup.name, User.display_name)
        .outerjoin(SkillGroup, SkillGroup.id == Conversation.skill_group_id)
        .outerjoin(User, User.id == Conversation.agent_id)
        .where(*mine, Conversation.id != conv.id)
        .order_by(Conversation.id.desc())
        .limit(EARLIER_LIMIT)
    ).all()
    return CustomerInfo(
        visitor=VisitorCard(
            id=visitor.id,
            name=visitor.name,
            external_id=visitor.external_id,
            phone=visitor.phone,
            email=visitor.email,
            is_vip=visitor.is_vip,
            created_at=visitor.created_at,
            last_seen_at=visitor.last_seen_at,
        ),
        channel_id=conv.channel_id,
        channel_name=names.get(conv.channel_id, ""),
        conversations_total=total,
        earlier=[
            EarlierConversation(
                id=c.id,
                status=c.status,
                channel_name=names.get(c.channel_id, ""),
                skill_group_name=group,
                agent_name=agent,
                created_at=c.created_at,
                ended_at=c.ended_at,
                rating=c.rating,
                last_seq=c.last_seq,
            )
            for c, group, agent in rows
        ],
    )


@router.get(
    "/{conversation_id}/transfer-targets",
    response_model=TransferTargets,
    summary="可转接的坐席与技能组 / agents and skill groups to transfer to",
    description="本租户全部技能组（调用者范围内的在前），以及服务这些技能组的在职坐席（含状态与当前接待量）；"
    "可跨团队转接，例如售前转售后、分部转总部。"
    " / Every skill group of the tenant (the caller's own first) and the active agents who serve them, with"
    " status and load: transfers may cross teams (pre-sales to after-sales, a region to head office).",
)
def transfer_targets(conversation_id: PathId, caller: CallerDep, db: DbDep) -> TransferTargets:
    conv = access_conversation(db, caller, conversation_id)
    groups = db.scalars(
        select(SkillGroup).where(SkillGroup.tenant_id == caller.tenant_id).order_by(SkillGroup.id)
    ).all()
    own = set(
        db.scalars(
            select(SkillGroup.id).where(SkillGroup.tenant_id == caller.tenant_id, skill_group_visible_clause(caller))
        )
    )
    team_names = {
        row.id: row.name for row in db.execute(select(Team.id, Team.name).where(Team.tenant_id == caller.tenant_id))
    }
    group_ids = [g.id for g in groups]
    agents = db.scalars(
        select(User)
        .where(
            User.tenant_id == caller.tenant_id,
            User.deleted_at.is_(None),
            User.is_active.is_(True),
            User.role.in_((Role.agent, Role.supervisor)),
            User.id.in_(select(SkillGroupAgent.user_id).where(SkillGroupAgent.skill_group_id.in_(group_ids))),
        )
        .order_by(User.id)
    ).all()
    loads: dict[int, int] = {
        agent_id: count
        for agent_id, count in db.execute(
            select(Conversation.agent_id, func.count())
            .where(Conversation.tenant_id == caller.tenant_id, Conversation.status == ConversationStatus.active)
            .group_by(Conversation.agent_id)
        )
        if agent_id is not None
    }
    return TransferTargets(
        agents=[
            TransferAgent(
                user_id=u.id,
                display_name=u.display_name,
                status=u.agent_status,
                load=loads.get(u.id, 0),
                max_concurrent=u.max_concurrent,
            )
            for u in agents
            if u.id != conv.agent_id
        ],
        groups=sorted(
            (
                TransferGroup(
                    skill_group_id=g.id,
                    name=g.name,
                    mode=g.mode.value,
                    team_id=g.team_id,
                    team_name=team_names.get(g.team_id, ""),
                    own=g.id in own,
                )
                for g in groups
            ),
            key=lambda g: (not g.own, g.skill_group_id),
        ),
    )
