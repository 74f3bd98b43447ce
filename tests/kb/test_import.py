"""Import and export: every bad row reported with its number, nothing half-imported, round trips."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from kefu.actions.kb import do_create_entry, do_import_kb
from kefu.kb import load_demo_kb
from kefu.kb.io import ImportRejected, export_rows, read_table, template, write_csv, write_xlsx
from kefu.models.kb import KbCategory, KbEntry, KbSimilarQuestion
from kefu.schemas.kb import KbEntryCreate
from tests.kb.conftest import Kb
from tests.kb.gen import generated_file, generated_rows

HEADER = "标准问题,相似问题,答案,分类\n"


def csv_bytes(body: str, header: str = HEADER) -> bytes:
    return (header + body).encode("utf-8")


def run(kb: Kb, data: bytes, name: str = "kb.csv", mode: str = "append", dry_run: bool = False):  # type: ignore[no-untyped-def]
    return do_import_kb(kb.db, kb.tenant_id, read_table(data, name), mode=mode, actor_id=None, dry_run=dry_run)  # type: ignore[arg-type]


def rejected(kb: Kb, data: bytes, **kw: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(ImportRejected) as e:
        run(kb, data, **kw)  # type: ignore[arg-type]
    return [(err.row, err.column, err.msg.zh) for err in e.value.errors]


def entry_count(kb: Kb) -> int:
    return kb.db.scalar(select(func.count()).select_from(KbEntry).where(KbEntry.tenant_id == kb.tenant_id)) or 0


def test_every_bad_row_is_reported_with_its_number_and_nothing_is_imported(kb: Kb) -> None:
    long = "长" * 201
    body = (
        "怎么退货,我想退货,签收后 7 天内可退,售后/退货\n"  # row 2: fine
        ",没有标准问题,答案,\n"  # row 3: empty standard question
        "怎么退货？,,重复的,\n"  # row 4: duplicate of row 2 (normalised)
        '怎么换货,"换货流程\n我想退货",答案,\n'  # row 5: a similar question of row 2
        f"{long},,答案,\n"  # row 6: too long
        "没有答案,,,\n"  # row 7: empty answer
        "\n"  # row 8: blank, skipped
        "只有脚本,,<script>alert(1)</script>,\n"  # row 9: nothing left once sanitised
        "分类太深,,答案,a/b/c/d/e/f\n"  # row 10
        "好的问题,,好的答案,\n"  # row 11: fine
    )
    errors = rejected(kb, csv_bytes(body))
    assert [(row, col) for row, col, _ in errors] == [
        (3, "标准问题"),
        (4, "标准问题"),
        (5, "相似问题"),
        (6, "标准问题"),
        (7, "答案"),
        (9, "答案"),
        (10, "分类"),
    ]
    assert "与第 2 行重复" in errors[1][2] and "我想退货" in errors[2][2]
    assert entry_count(kb) == 0 and kb.events() == []


def test_unknown_and_missing_columns(kb: Kb) -> None:
    errors = rejected(kb, csv_bytes("q,a,x\n", header="标准问题,备注,意见\n"))
    assert errors[0][:2] == (1, "备注") and errors[1][:2] == (1, "意见")
    assert (1, "答案") in [(r, c) for r, c, _ in errors]
    assert rejected(kb, b"") == [(1, None, "文件是空的")]


def test_bad_enabled_and_times(kb: Kb) -> None:
    header = "标准问题,答案,启用,生效时间,失效时间\n"
    body = "a,x,也许,,\nb,x,是,明天,\nc,x,否,2026-11-12,2026-11-11\nd,x,否,2026-11-11,2026-11-12 08:00\n"
    errors = rejected(kb, csv_bytes(body, header))
    assert [(r, c) for r, c, _ in errors] == [(2, "启用"), (3, "生效时间"), (4, "失效时间")]


def test_append_refuses_existing_questions_upsert_updates_replace_replaces(kb: Kb) -> None:
    do_create_entry(
        kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", similar_questions=["我想退货"], answer="旧")
    )
    errors = rejected(kb, csv_bytes("怎么退货,,新,\n别的问题,我想退货,x,\n"))
    assert [(r, c) for r, c, _ in errors] == [(2, "标准问题"), (3, "相似问题")]
    assert "upsert" in errors[0][2]

    result = run(kb, csv_bytes("怎么退货,退货流程,新答案,售后\n怎么换货,,换货答案,售后\n"), mode="upsert")
    assert (result.created, result.updated, result.categories_created) == (1, 1, 1)
    entries = {e.standard_question: e for e in kb.db.scalars(select(KbEntry))}
    assert entries["怎么退货"].answer == "新答案"
    assert [s.question for s in entries["怎么退货"].similar] == ["退货流程"]  # the file's list replaces the old
    imported = kb.events("kb.imported")[-1].payload
    assert imported == {"mode": "upsert", "rows": 2, "created": 1, "updated": 1, "deleted": 0, "categories_created": 1}

    # Upsert without the 相似问题 column keeps the similar questions.
    run(kb, csv_bytes("怎么退货,又一个答案\n", header="标准问题,答案\n"), mode="upsert")
    kb.db.expire_all()
    kept = kb.db.scalars(select(KbSimilarQuestion.question)).all()
    assert kept == ["退货流程"]

    result = run(kb, csv_bytes("唯一的问题,,答案,\n"), mode="replace")
    assert (result.created, result.deleted) == (1, 2)
    assert kb.db.scalars(select(KbEntry.standard_question)).all() == ["唯一的问题"]


def test_upsert_reports_a_repeat_within_the_file(kb: Kb) -> None:
    do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="旧"))
    errors = rejected(kb, csv_bytes("怎么退货,,一,\n怎么退货!,,二,\n"), mode="upsert")
    assert [(r, c) for r, c, _ in errors] == [(3, "标准问题")]


def test_dry_run_writes_nothing(kb: Kb) -> None:
    result = run(kb, csv_bytes("a,,x,\nb,,y,\n"), dry_run=True)
    assert (result.created, result.dry_run) == (2, True) and entry_count(kb) == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_round_trip(kb: Kb, fmt: str) -> None:
    rows = [
        ["怎么退货", "我想退货\n退货流程", "签收后 7 天内可退。\n请在“我的订单”申请 & 等待 <审核>", "售后/退货", "是"],
        ["双11什么时候开始", "", '详见<a href="https://x.example/1111" rel="noopener noreferrer">活动页</a>', "活动"],
        ["=1+1 算不算公式", "-5度能用吗\n@客服", '=HYPERLINK("x")', "", "是", "", ""],
    ]
    rows[0] += ["", ""]
    rows[1] += ["否", "2026-10-20", "2026-11-12 08:30"]
    data = write_xlsx(rows) if fmt == "xlsx" else write_csv(rows)
    run(kb, data, name=f"kb.{fmt}")
    exported = list(export_rows(kb.db, kb.tenant_id))
    assert exported == rows
    again = write_xlsx(exported) if fmt == "xlsx" else write_csv(exported)
    assert run(kb, again, name=f"kb.{fmt}", mode="upsert").updated == 3
    assert list(export_rows(kb.db, kb.tenant_id)) == rows
    if fmt == "csv":  # cells that spreadsheets would run as formulas are escaped in the CSV
        assert "'=1+1 算不算公式" in data.decode("utf-8-sig")
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(again))["知识库"]
        assert sheet["A4"].data_type == "s"


def test_templates_import_cleanly(kb: Kb) -> None:
    assert run(kb, template("xlsx"), name="t.xlsx").created == 2
    assert run(kb, template("csv"), name="t.csv", mode="upsert").updated == 2
    book = openpyxl.load_workbook(io.BytesIO(template("xlsx")))
    assert book.sheetnames == ["知识库", "填写说明"]


def test_gbk_csv_from_excel_is_read(kb: Kb) -> None:
    data = (HEADER + "怎么退货,,签收后可退,售后\n").encode("gb18030")
    assert run(kb, data).created == 1


def test_old_xls_and_garbage_are_refused_clearly(kb: Kb) -> None:
    from kefu.errors import Invalid

    with pytest.raises(Invalid) as xls:
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "kb.xls")
    assert ".xlsx" in xls.value.msg.zh
    with pytest.raises(Invalid) as broken:
        read_table(b"PK\x03\x04 not really a zip", "kb.xlsx")
    assert broken.value.code == "kb.import_unreadable"


def test_ten_thousand_entries(kb: Kb) -> None:
    """Bulk writes (no timing asserted here; see docs/kb.md for the measurement)."""
    result = run(kb, generated_file(10_000, "csv"))
    assert result.created == 10_000 and entry_count(kb) == 10_000
    assert kb.db.scalar(select(func.count()).select_from(KbSimilarQuestion)) == 30_000
    assert kb.db.scalar(select(func.count()).select_from(KbCategory)) == 9
    assert len(kb.events("kb.imported")) == 1
    # One bad row among 10,000: nothing of the file is written.
    rows = generated_rows(10_000)
    rows = [[f"新{r[0]}", "", r[2], r[3], r[4], r[5], r[6]] for r in rows]
    rows[7_777][2] = ""
    with pytest.raises(ImportRejected) as e:
        run(kb, write_xlsx(rows), name="big.xlsx")
    assert [(err.row, err.column) for err in e.value.errors] == [(7_779, "答案")]
    assert entry_count(kb) == 10_000


def test_demo_kb_loads_and_reloads(kb: Kb) -> None:
    first = load_demo_kb(kb.db, kb.tenant_id)
    assert first.created > 100 and first.categories_created > 0
    again = load_demo_kb(kb.db, kb.tenant_id)
    assert (again.created, again.updated) == (0, first.created)


def test_cli_import_shows_errors_and_imports(kb: Kb, database, tmp_path, monkeypatch, request) -> None:  # type: ignore[no-untyped-def]
    import typer

    from kefu.config import get_settings
    from kefu.kb.cli import kb_app

    monkeypatch.setenv("KEFU_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    app = typer.Typer()
    app.add_typer(kb_app, name="kb")
    kb.db.commit()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("a,,x,\n,,y,\na,,z,\n"))
    runner = CliRunner()
    out = runner.invoke(app, ["kb", "import", "--tenant", "shop", str(bad)])
    assert out.exit_code == 1, out.output
    assert "第 3 行" in out.output and "第 4 行" in out.output
    good = tmp_path / "good.xlsx"
    good.write_bytes(generated_file(50, "xlsx"))
    out = runner.invoke(app, ["kb", "import", "--tenant", "shop", "--mode", "upsert", str(good)])
    assert out.exit_code == 0, out.output
    assert "新增 created 50" in out.output
    exported = tmp_path / "out.csv"
    out = runner.invoke(app, ["kb", "export", "--tenant", "shop", str(exported)])
    assert out.exit_code == 0 and exported.read_bytes().startswith(b"\xef\xbb\xbf")
    assert runner.invoke(app, ["kb", "import", "--tenant", "nobody", str(good)]).exit_code == 2
