"""The ``kefu`` command line."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from kefu.bot.cli import bot_app
from kefu.config import get_settings
from kefu.kb.cli import kb_app

app = typer.Typer(
    help="kefu 全渠道智能客服平台 — omnichannel customer service", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
admin_app = typer.Typer(help="管理 / administration", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(kb_app, name="kb")
app.add_typer(bot_app, name="bot")


def _database():  # type: ignore[no-untyped-def]
    from kefu.db.engine import make_engine
    from kefu.db.session import Database
    from kefu.events.bus import make_bus

    settings = get_settings()
    return Database(make_engine(settings.database_url), make_bus(settings.redis_url_or_none, settings.bus_namespace))


def _upgrade() -> None:
    from sqlalchemy.engine import make_url

    from kefu.db.engine import make_engine
    from kefu.db.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    typer.echo(f"数据库已是最新 / database is up to date: {make_url(settings.database_url).render_as_string()}")


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from kefu.ops.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        "kefu.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        ws_max_size=1 << 20,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """启动服务 / run the kefu server."""
    from kefu.db.engine import make_engine
    from kefu.db.migrate import current_revision, head_revision

    engine = make_engine(get_settings().database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        typer.echo(
            f"数据库结构不是最新（当前 {current or '空'}，需要 {head_revision()}），请先运行 `kefu db upgrade`。\n"
            "The database schema is not current; run `kefu db upgrade` first.",
            err=True,
        )
        raise typer.Exit(2)
    _serve(host, port, workers)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after seeding")] = True,
    simulate_: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="simulated visitors and agents keep the demo busy")
    ] = True,
) -> None:
    """创建演示企业并启动 / create the demo tenant (idempotent) and serve it."""
    from kefu.demo import seed_demo

    _upgrade()
    database = _database()
    try:
        info = seed_demo(database)
    finally:
        database.dispose()
    base = f"http://{host}:{port}"
    typer.echo("")
    typer.echo(f"kefu 演示已就绪 / demo ready: {base}   API 文档 / docs: {base}/docs")
    typer.echo(f"  企业标识 tenant: {info.tenant_slug}    密码 password (all demo users): {info.password}")
    typer.echo(f"  {'角色 role':<14}{'用户名 username':<20}姓名 name")
    for role, username, name in info.logins:
        typer.echo(f"  {role:<14}{username:<20}{name}")
    typer.echo(f"  网页渠道 widget key: {info.widget_key}")
    if serve_ and simulate_:
        _start_demo_simulation(host, port)
    typer.echo("")
    if serve_:
        _serve(host, port, 1)


def _start_demo_simulation(host: str, port: int) -> None:
    """Simulated traffic for the demo, in a background thread with its own event loop: it waits until the
    server answers /healthz, then runs a modest load until the process ends. A failure only stops it."""
    import asyncio
    import threading

    from kefu.sim.curation import CuratorBehaviour
    from kefu.sim.driver import demo_config, prepare_from_settings, simulate

    connect_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - comparing, not binding
    if ":" in connect_host:
        connect_host = f"[{connect_host}]"
    config = demo_config(f"http://{connect_host}:{port}")
    try:
        setup = prepare_from_settings("demo", config.agents)
    except Exception as exc:  # the demo must come up even when the simulation cannot
        typer.echo(f"模拟流量未启动 / simulated traffic not started: {exc}", err=True)
        return
    names = ", ".join(a.username for a in setup.agents)
    typer.echo(f"  模拟流量 simulated traffic: visitors + agents {names}  (--no-simulate to turn off)")
    if setup.curator_token:
        every_min = CuratorBehaviour().review_every_s / config.speed / 60
        typer.echo(
            f"  模拟管理员每 {every_min:.0f} 分钟清理一次学习队列 / a simulated admin clears the learning queue"
            f" every {every_min:.0f} min"
        )

    def run() -> None:
        try:
            asyncio.run(simulate(config, setup))
        except Exception as exc:
            print(f"模拟流量已停止 / simulated traffic stopped: {exc!r}", file=sys.stderr, flush=True)

    threading.Thread(target=run, name="kefu-demo-simulation", daemon=True).start()


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="the running kefu server")] = "http://127.0.0.1:8000",
    tenant: Annotated[str, typer.Option(help="企业标识 / tenant slug (its web channel and agents)")] = "demo",
    speed: Annotated[float, typer.Option(min=0.001, help="simulated seconds per second: 60 = an hour a minute")] = 60.0,
    chat_speed: Annotated[
        float | None, typer.Option(min=0.001, help="speed of conversations (think, type, wait); default --speed")
    ] = None,
    day_volume: Annotated[float, typer.Option(min=0, help="visitors in a whole simulated day")] = 300.0,
    profile: Annotated[str, typer.Option(help="intraday curve: normal or double11")] = "normal",
    agents: Annotated[int, typer.Option(min=0, help="simulated agents (API tokens are made for them)")] = 6,
    duration: Annotated[float | None, typer.Option(min=0, help="seconds to run; default until Ctrl-C")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed, for a repeatable run")] = None,
    start_hour: Annotated[
        float | None, typer.Option(min=0, max=24, help="local hour the simulated day starts at; default now")
    ] = None,
    max_visitors: Annotated[int, typer.Option(min=1, help="most visitors connected at once")] = 200,
    stats_every: Annotated[float, typer.Option(min=0, help="seconds between stats lines on stderr; 0 = none")] = 5.0,
    curate: Annotated[
        bool,
        typer.Option(
            "--curate/--no-curate",
            help="模拟管理员每模拟小时清理学习队列 / a simulated administrator clears the learning queue hourly",
        ),
    ] = True,
) -> None:
    """模拟访客与坐席流量 / drive simulated visitors and agents through the real protocol."""
    import asyncio
    import contextlib

    from kefu.sim.driver import SimConfig, prepare_from_settings
    from kefu.sim.driver import simulate as run_simulation

    if profile not in ("normal", "double11"):
        typer.echo("--profile 须为 normal 或 double11 / must be normal or double11", err=True)
        raise typer.Exit(2)
    config = SimConfig(
        url=url,
        tenant=tenant,
        speed=speed,
        chat_speed=chat_speed,
        day_volume=day_volume,
        profile=profile,  # type: ignore[arg-type]
        agents=agents,
        duration=duration,
        seed=seed,
        start_hour=start_hour,
        max_visitors=max_visitors,
        stats_every=stats_every,
        wait_healthy=30.0,
        curate=curate,
    )
    try:
        setup = prepare_from_settings(tenant, agents, curator=curate)
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    curator = " + an administrator clearing the learning queue" if setup.curator_token else ""
    typer.echo(f"simulating {url}: agents {', '.join(a.username for a in setup.agents) or '-'}{curator}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulation(config, setup))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """升级数据库结构 / apply migrations."""
    _upgrade()


@db_app.command("current")
def db_current() -> None:
    """显示数据库版本 / show the schema revision."""
    from kefu.db.engine import make_engine
    from kefu.db.migrate import current_revision, head_revision

    engine = make_engine(get_settings().database_url)
    try:
        typer.echo(f"current: {current_revision(engine) or '-'}  head: {head_revision()}")
    finally:
        engine.dispose()


@admin_app.command("create-tenant")
def create_tenant(
    slug: Annotated[str, typer.Argument(help="企业标识，用于登录 / tenant slug used at login")],
    name: Annotated[str, typer.Option(help="企业名称 / company name")],
    admin_username: Annotated[str, typer.Option(help="管理员用户名 / first admin's username")] = "admin",
    admin_name: Annotated[str, typer.Option(help="管理员姓名 / first admin's name")] = "管理员",
    time_zone: Annotated[str, typer.Option(help="时区 / time zone")] = "",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """创建企业及其第一位管理员 / create a tenant and its first administrator."""
    from kefu.actions.tenants import do_create_tenant
    from kefu.errors import KefuError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("管理员密码 / admin password: ")
        if password != getpass.getpass("再输入一次 / again: "):
            typer.echo("两次输入的密码不一致 / the passwords differ", err=True)
            raise typer.Exit(2)
    database = _database()
    try:
        with database.session() as db:
            created = do_create_tenant(
                db,
                slug=slug,
                name=name,
                admin_username=admin_username,
                admin_password=password,
                admin_display_name=admin_name,
                time_zone=time_zone or get_settings().time_zone,
            )
            typer.echo(
                f"已创建企业 / created tenant {created.tenant.slug} (id {created.tenant.id}); "
                f"管理员 / admin: {created.admin.username}; widget key: {created.web_channel.widget_key}"
            )
    except KefuError as exc:
        typer.echo(f"{exc.msg.zh} / {exc.msg.en}", err=True)
        raise typer.Exit(2) from exc
    finally:
        database.dispose()


@admin_app.command("create-token")
def create_token(
    tenant: Annotated[str, typer.Option(help="企业标识 / tenant slug")],
    username: Annotated[str, typer.Option(help="令牌代表的用户 / the user the token acts as")],
    name: Annotated[str, typer.Option(help="令牌名称 / token name")] = "cli",
) -> None:
    """为集成创建 API 令牌（只显示一次）/ create an API token for an integration (printed once)."""
    from sqlalchemy import select

    from kefu.access.scope import caller_for
    from kefu.actions.api_tokens import do_create_api_token
    from kefu.models.staff import Role, User
    from kefu.models.tenant import Tenant
    from kefu.schemas.auth import ApiTokenCreate

    database = _database()
    try:
        with database.session() as db:
            user = db.scalar(
                select(User)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(Tenant.slug == tenant, User.username == username)
            )
            if user is None:
                typer.echo("找不到该企业或用户 / no such tenant or user", err=True)
                raise typer.Exit(2)
            admin = db.scalar(
                select(User)
                .where(User.tenant_id == user.tenant_id, User.role == Role.admin, User.is_active.is_(True))
                .order_by(User.id)
            )
            if admin is None:
                typer.echo("该企业没有可用的管理员 / the tenant has no active administrator", err=True)
                raise typer.Exit(2)
            _, plain = do_create_api_token(db, caller_for(db, admin), ApiTokenCreate(name=name, user_id=user.id))
            typer.echo(plain)
    finally:
        database.dispose()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
