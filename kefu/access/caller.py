"""The authenticated caller and what he may see."""

from __future__ import annotations

from dataclasses import dataclass

from kefu.models.staff import Role


@dataclass(frozen=True)
class Caller:
    """A member of staff making a request, with his visibility computed once per request.

    ``visible_team_ids`` is ``None`` for an administrator (the whole tenant); for a supervisor the teams
    he belongs to and every team below them; for an inspector the teams he is assigned to and below;
    for an agent nothing beyond his own work.
    """

    user_id: int
    tenant_id: int
    role: Role
    team_ids: frozenset[int]
    visible_team_ids: frozenset[int] | None
    via: str = "session"  # or "token"
    session_digest: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    def sees_team(self, team_id: int | None) -> bool:
        if self.visible_team_ids is None:
            return True
        return team_id is not None and team_id in self.visible_team_ids

    def sees_any_team(self, team_ids: set[int] | frozenset[int]) -> bool:
        if self.visible_team_ids is None:
            return True
        return not self.visible_team_ids.isdisjoint(team_ids)

    def event_visible(self, tenant_id: int, team_id: int | None, user_id: int | None, actor_id: int | None) -> bool:
        """Events follow the same rule as rows: tenant first, then team subtree, else one's own."""
        if tenant_id != self.tenant_id:
            return False
        if self.visible_team_ids is None:
            return True
        if self.user_id in (user_id, actor_id):
            return True
        return self.role is not Role.agent and team_id is not None and team_id in self.visible_team_ids
