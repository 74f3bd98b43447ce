"""Agent status (online / busy / away / offline): what routing reads to decide who gets work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.staff import Role, User
from kefu.models.team import TeamMembership
from kefu.routing.engine import AgentStatus

#: Why a status changed, for the record and the monitoring screens.
REASONS = frozenset({"agent", "supervisor", "disconnected", "login", "logout", "system"})
#: Roles that take conversations; a supervisor may serve in a skill group too.
SERVING_ROLES = (Role.agent, Role.supervisor, Role.admin)


def parse_status(value: str) -> AgentStatus:
    try:
        return AgentStatus(value)
    except ValueError:
        raise Invalid(
            Msg(
                "状态须为 online（在线）、busy（忙碌）、away（离开）或 offline（离线）",
                "status must be online, busy, away or offline",
            ),
            code="agent.bad_status",
        ) from None


@action
def do_set_agent_status(
    db: Session,
    user_id: int,
    *,
    tenant_id: int,
    status: AgentStatus,
    reason: str = "agent",
    actor_id: int | None = None,
    now: datetime | None = None,
) -> User:
    """Set an agent's status; no event when it does not change (reconnects repeat it freely)."""
    now = now or utcnow()
    if reason not in REASONS:
        raise Invalid(Msg("未知的状态变更原因", "unknown reason for the status change"), code="agent.bad_reason")
    user = db.scalar(
        select(User)
        .where(User.id == user_id, User.tenant_id == tenant_id, User.deleted_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user is None:
        raise not_found("坐席", "agent")
    if not user.is_active and status is not AgentStatus.offline:
        raise Invalid(Msg("账号已停用", "the account is disabled"), code="agent.inactive")
    was = user.agent_status
    if was == status.value:
        return user
    user.agent_status = status.value
    user.status_changed_at = now
    team_id = db.scalar(select(func.min(TeamMembership.team_id)).where(TeamMembership.user_id == user.id))
    emit(
        db,
        "agent.status_changed",
        tenant_id=tenant_id,
        team_id=team_id,
        user_id=user.id,
        actor_id=actor_id if actor_id is not None else user.id,
        occurred_at=now,
        payload={"status": status.value, "was": was, "reason": reason},
    )
    return user
