"""``kefu bot …``: the bot's command line (mounted in ``kefu.cli`` as ``kefu bot``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["bot_app"]

bot_app = typer.Typer(help="机器人与知识库 / bot and knowledge base", no_args_is_help=True)


@bot_app.callback()
def _bot() -> None:
    """机器人与知识库 / bot and knowledge base."""


def _progress(label: str) -> Callable[[int, int], None]:
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - state["last"] >= 1.0:
            state["last"] = now
            end = "\n" if done == total else ""
            print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return report


@bot_app.command("eval")
def eval_command(
    kb: Annotated[
        Path, typer.Option("--kb", help="知识库 CSV: id,question,similar,answer 或 标准问题,相似问题,答案,分类")
    ],
    queries: Annotated[Path, typer.Option("--queries", help="问题 CSV: query,expected_id (空 = 知识库外)")],
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 / print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度 / no progress on stderr")] = False,
    words: Annotated[
        Path | None,
        typer.Option("--words", help="企业词典: 一行一个词（产品名）/ the tenant's dictionary, one word per line"),
    ] = None,
    synonyms: Annotated[
        Path | None,
        typer.Option("--synonyms", help="同义词: 一行一组，空格或逗号分隔 / one synonym set per line"),
    ] = None,
) -> None:
    """评测机器人 / evaluate the bot: build it from KB, answer every query, print the metrics."""
    from kefu.bot.evaluate import evaluate
    from kefu.bot.kb_file import KbFileError, parse_kb, parse_queries, parse_synonyms, parse_words
    from kefu.bot.matcher import Matcher

    user_words: list[str] = []
    synonym_sets: list[list[str]] = []
    try:
        with kb.open(encoding="utf-8-sig", newline="") as f:
            docs = parse_kb(f)
        with queries.open(encoding="utf-8-sig", newline="") as f:
            items = parse_queries(f, known_ids=(d.entry_id for d in docs))
        if words is not None:
            with words.open(encoding="utf-8-sig") as f:
                user_words = parse_words(f)
        if synonyms is not None:
            with synonyms.open(encoding="utf-8-sig") as f:
                synonym_sets = parse_synonyms(f)
    except OSError as exc:
        typer.echo(f"无法读取文件 / cannot read: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KbFileError as exc:
        typer.echo(f"文件有误 / bad file:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        typer.echo(f"文件不是 UTF-8 / the file is not UTF-8: {exc}", err=True)
        raise typer.Exit(2) from exc

    if not quiet:
        print(f"构建中 / building: {len(docs)} entries", file=sys.stderr, flush=True)
    started = time.perf_counter()
    matcher = Matcher(docs, user_words=user_words, synonyms=synonym_sets)
    build_s = time.perf_counter() - started
    result = evaluate(matcher, items, progress=None if quiet else _progress("评测中 / evaluating"))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    t = matcher.thresholds

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} ms"

    in_kb = sum(1 for q in items if q.expected_id is not None)
    lines = [
        f"知识库 / knowledge base: {len(docs)} 条 entries, 建索引 / built in {build_s:.1f} s"
        + (f", 词典 / dictionary {len(user_words)}" if user_words else "")
        + (f", 同义词 / synonym sets {len(synonym_sets)}" if synonym_sets else ""),
        f"阈值 / thresholds ({t.source}): answer ≥ {t.answer:.3f}, margin ≥ {t.margin:.3f}, suggest ≥ {t.suggest:.3f}",
        f"问题 / queries: {result.n} ({in_kb} 在知识库内 in KB, {result.n - in_kb} 知识库外 out of KB)",
        f"首位命中 / top-1:           {pct(result.top1)}",
        f"前三命中 / top-3:           {pct(result.top3)}",
        f"MRR@10:                     {'—' if result.mrr is None else f'{result.mrr:.3f}'}",
        f"直接回答率 / answer rate:   {pct(result.answer_rate)}",
        f"回答准确率 / answered precision: {pct(result.answered_precision)}",
        f"误答率 / false-answer rate: {pct(result.false_answer_rate)}",
        f"延迟 / latency: p50 {ms(result.p50_ms)}, p99 {ms(result.p99_ms)}",
    ]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    bot_app()
