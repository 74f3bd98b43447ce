"""The Alembic migrations and the models describe the same schema, on both backends, and migrate both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from kefu.db.base import Base
from kefu.db.engine import make_engine
from kefu.db.migrate import alembic_config, current_revision, head_revision, upgrade
from kefu.db.session import Database


def test_models_match_the_migrations(database: Database) -> None:
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"
    assert current_revision(database.engine) == head_revision()


def test_downgrade_to_nothing_and_back(database: Database) -> None:
    from alembic import command

    engine = database.engine
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_upgrading_keeps_the_rows_of_every_table(database: Database) -> None:
    """SQLite alters tables by copying them; the copy must not cascade-delete the rows that refer to them."""
    from alembic import command
    from sqlalchemy import text

    engine = database.engine
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    now = "2026-11-23 00:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, slug, name, time_zone, settings, created_at) "
                "VALUES (1, 't', 'T', 'Asia/Shanghai', '{}', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO teams (id, tenant_id, name, description, created_at, updated_at) "
                "VALUES (1, 1, '总部', '', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO users (id, tenant_id, username, display_name, role, password_hash, is_active, "
                "max_concurrent, created_at, updated_at) VALUES (1, 1, 'a', 'A', 'agent', 'x', true, 5, :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO skill_groups (id, tenant_id, team_id, name, description, mode, created_at, updated_at) "
                "VALUES (1, 1, 1, '售前', '', 'round_robin', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO skill_group_agents (skill_group_id, user_id, tenant_id, priority, created_at) "
                "VALUES (1, 1, 1, 0, :now)"
            ),
            {"now": now},
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM skill_group_agents")).scalar() == 1
        assert conn.execute(text("SELECT agent_status FROM users")).scalar() == "offline"
        assert conn.execute(text("SELECT off_hours_message FROM skill_groups")).scalar() == ""
