"""Test data made through the real actions, never by writing rows behind their back."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import caller_for
from kefu.actions.api_tokens import do_create_api_token
from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
from kefu.actions.teams import do_create_team
from kefu.actions.tenants import do_create_tenant
from kefu.actions.users import do_create_user
from kefu.db.session import Database
from kefu.models.staff import Role, User
from kefu.schemas.auth import ApiTokenCreate
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
from kefu.schemas.team import TeamCreate
from kefu.schemas.user import UserCreate

PASSWORD = "correct-horse-42"


def admin_caller(db: Session, admin: User) -> Caller:
    return caller_for(db, admin)


def make_tenant(db: Session, slug: str) -> tuple[int, User]:
    created = do_create_tenant(db, slug=slug, name=f"Tenant {slug}", admin_username="admin", admin_password=PASSWORD)
    return created.tenant.id, created.admin


def make_user(db: Session, caller: Caller, username: str, role: Role, team_ids: list[int]) -> User:
    return do_create_user(
        db,
        caller,
        UserCreate(username=username, display_name=username, role=role, password=PASSWORD, team_ids=team_ids),
    )


def token_for(db: Session, admin: Caller, user: User) -> str:
    return do_create_api_token(db, admin, ApiTokenCreate(name=f"t-{user.username}", user_id=user.id))[1]


@dataclass
class World:
    """Two tenants. In tenant A: 总部 → {华东 → 华东一组, 华南}; supervisors of 总部, 华东, 华东一组 and 华南, agents
    in 华东 and 华东一组, an inspector of 华南, a skill group owned by 华东. Tenant B has its own admin."""

    tenant_a: int
    tenant_b: int
    hq: int
    east: int
    east1: int
    south: int
    skill_group: int
    users: dict[str, User]
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def make_world(database: Database) -> World:
    with database.session() as db:
        tenant_a, admin_a = make_tenant(db, "tenant-a")
        tenant_b, admin_b = make_tenant(db, "tenant-b")
        ca = admin_caller(db, admin_a)
        hq = do_create_team(db, ca, TeamCreate(name="总部")).id
        east = do_create_team(db, ca, TeamCreate(name="华东", parent_id=hq)).id
        east1 = do_create_team(db, ca, TeamCreate(name="华东一组", parent_id=east)).id
        south = do_create_team(db, ca, TeamCreate(name="华南", parent_id=hq)).id
        users = {
            "admin_a": admin_a,
            "admin_b": admin_b,
            "sup_hq": make_user(db, ca, "sup_hq", Role.supervisor, [hq]),
            "sup_east": make_user(db, ca, "sup_east", Role.supervisor, [east]),
            "sup_south": make_user(db, ca, "sup_south", Role.supervisor, [south]),
            "sup_east1": make_user(db, ca, "sup_east1", Role.supervisor, [east1]),
            "agent_east": make_user(db, ca, "agent_east", Role.agent, [east]),
            "agent_east1": make_user(db, ca, "agent_east1", Role.agent, [east1]),
            "agent_south": make_user(db, ca, "agent_south", Role.agent, [south]),
            "qa_south": make_user(db, ca, "qa_south", Role.inspector, [south]),
        }
        group = do_create_skill_group(db, ca, SkillGroupCreate(name="华东售前", team_id=east)).id
        do_set_skill_group_agent(db, ca, group, users["agent_east"].id, SkillGroupAgentSet())
        cb = admin_caller(db, admin_b)
        tokens = {name: token_for(db, cb if name == "admin_b" else ca, u) for name, u in users.items()}
        for user in users.values():  # loaded, so they can be read after the session closes
            db.refresh(user)
        return World(tenant_a, tenant_b, hq, east, east1, south, group, users, tokens)


def login(client: TestClient, tenant: str, username: str, password: str = PASSWORD) -> str:
    """Log in with the cookie; returns the CSRF token and sets it as a default header."""
    resp = client.post("/api/v1/auth/login", json={"tenant": tenant, "username": username, "password": password})
    assert resp.status_code == 200, resp.text
    csrf = resp.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf
