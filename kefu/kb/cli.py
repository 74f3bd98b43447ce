"""``kefu kb …``: import, export and the template of a tenant's knowledge base."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kefu.config import get_settings

if TYPE_CHECKING:
    from kefu.db.session import Database

kb_app = typer.Typer(help="知识库 / knowledge base", no_args_is_help=True)

_PHASES = {"validate": "校验 validating", "write": "写入 writing  "}


def _database() -> Database:
    from kefu.db.engine import make_engine
    from kefu.db.session import Database
    from kefu.events.bus import make_bus

    settings = get_settings()
    return Database(make_engine(settings.database_url), make_bus(settings.redis_url_or_none, settings.bus_namespace))


def _tenant_id(database: Database, slug: str) -> int:
    from sqlalchemy import select

    from kefu.models.tenant import Tenant

    with database.session() as db:
        tenant_id = db.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        typer.echo(f"企业“{slug}”不存在 / no tenant {slug!r}", err=True)
        raise typer.Exit(2)
    return tenant_id


def _format_of(path: Path, given: str | None) -> str:
    fmt = (given or path.suffix.lstrip(".") or "xlsx").lower()
    if fmt not in ("xlsx", "csv"):
        typer.echo("格式须为 xlsx 或 csv / the format must be xlsx or csv", err=True)
        raise typer.Exit(2)
    return fmt


class _Bars:
    """One progress bar per phase, on standard error (standard output keeps the summary)."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.bars: dict[str, Any] = {}
        self.done: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.bars:
            for bar in self.bars.values():  # the previous phase is over
                bar.render_finish()
            bar = typer.progressbar(length=max(total, 1), label=_PHASES.get(phase, phase), file=sys.stderr, width=40)
            self.bars[phase] = self.stack.enter_context(bar)
            self.done[phase] = 0
        self.bars[phase].update(done - self.done[phase])
        self.done[phase] = done


@kb_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".xlsx 或 .csv 文件")],
    tenant: Annotated[str, typer.Option(help="企业标识 / tenant slug")],
    mode: Annotated[
        str,
        typer.Option(
            help="append: 只追加，已有的标准问题报错 / add only; upsert: 更新同名条目并追加 / update or add; "
            "replace: 先删除全部条目 / delete every entry first"
        ),
    ] = "append",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只校验不导入 / validate only")] = False,
) -> None:
    """导入知识库：先校验整个文件，有任何错误则列出每一行并且不导入 / import entries (all or nothing)."""
    from kefu.actions.kb import do_import_kb
    from kefu.errors import KefuError
    from kefu.kb.io import MODES, ImportRejected, read_table

    if mode not in MODES:
        typer.echo(f"--mode 须为 {' / '.join(MODES)} / must be one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    database = _database()
    try:
        tenant_id = _tenant_id(database, tenant)
        typer.echo(f"读取 reading {file} …", err=True)
        try:
            table = read_table(file.read_bytes(), file.name)
        except KefuError as e:
            typer.echo(f"{e.msg.zh} / {e.msg.en}", err=True)
            raise typer.Exit(2) from e
        with ExitStack() as stack, database.session() as db:
            try:
                result = do_import_kb(
                    db,
                    tenant_id,
                    table,
                    mode=mode,  # type: ignore[arg-type]
                    actor_id=None,
                    dry_run=dry_run,
                    progress=_Bars(stack),
                )
            except ImportRejected as e:
                stack.close()
                for err in e.errors:
                    typer.echo(err.line(), err=True)
                typer.echo(f"{e.msg.zh} / {e.msg.en}", err=True)
                raise typer.Exit(1) from e
    finally:
        database.dispose()
    what = "校验通过（未导入）/ valid (dry run, nothing imported)" if dry_run else "已导入 / imported"
    typer.echo(
        f"{what}: {result.rows} 行 rows — 新增 created {result.created}, 更新 updated {result.updated}, "
        f"删除 deleted {result.deleted}, 新分类 new categories {result.categories_created}"
    )


@kb_app.command("export")
def export_file(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="输出文件 .xlsx 或 .csv / output file")],
    tenant: Annotated[str, typer.Option(help="企业标识 / tenant slug")],
    format: Annotated[str | None, typer.Option(help="xlsx 或 csv（默认按扩展名）/ default: by extension")] = None,
) -> None:
    """按导入模板导出全部条目 / export every entry in the import template."""
    from kefu.kb.io import export_rows, write_file

    fmt = _format_of(file, format)
    database = _database()
    try:
        tenant_id = _tenant_id(database, tenant)
        with database.session() as db:
            rows = list(export_rows(db, tenant_id))
        file.write_bytes(write_file(fmt, rows))  # type: ignore[arg-type]
    finally:
        database.dispose()
    typer.echo(f"已导出 / exported {len(rows)} 条 entries → {file}")


@kb_app.command("template")
def template_file(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="输出文件 .xlsx 或 .csv / output file")],
    format: Annotated[str | None, typer.Option(help="xlsx 或 csv（默认按扩展名）/ default: by extension")] = None,
) -> None:
    """写出导入模板（含两行示例）/ write the import template with two example rows."""
    from kefu.kb.io import template

    file.write_bytes(template(_format_of(file, format)))  # type: ignore[arg-type]
    typer.echo(f"模板 / template → {file}")
