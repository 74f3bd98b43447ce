"""Bot matching benchmark: ``kefu bot eval`` against the common baseline, on the same files, in one run.

The baseline is what most FAQ bots start with: jieba words + ``rank_bm25``'s BM25Okapi over every
standard and similar question, the best-scoring question's entry wins, and it always answers. Its top-1,
top-3 and MRR are computed the same way as kefu's (over in-KB queries, one hit per entry).

Sets: ``bq`` and ``atec`` from ``../shared/data/faq-eval`` (``--data``), and a synthetic 10,000-entry
knowledge base built from jieba's own dictionary (latency per query on a large knowledge base; its
accuracy figures mean little). kefu runs as the real command (``kefu bot eval --json``, a subprocess).

Prints one JSON object on stdout (progress on stderr). See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine  # bench/ is on sys.path when a benchmark runs as a script

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "faq-eval"


def log(*parts: Any) -> None:
    print("[bot]", *parts, file=sys.stderr, flush=True)


def kefu_command() -> list[str]:
    """``kefu bot eval`` as installed: through ``kefu.cli`` once ``bot`` is mounted there."""
    from kefu.cli import app

    if any(group.name == "bot" for group in app.registered_groups):
        return [sys.executable, "-m", "kefu.cli", "bot", "eval"]
    return [sys.executable, "-m", "kefu.bot.cli", "eval"]


def run_kefu(kb: Path, queries: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [*kefu_command(), "--kb", str(kb), "--queries", str(queries), "--json", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"kefu bot eval failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100.0 * len(ordered))) - 1]


def run_baseline(kb: Path, queries: Path) -> dict[str, Any]:
    """jieba + rank_bm25 BM25Okapi over all questions; best question's entry wins; always answers."""
    import jieba
    import numpy as np
    from rank_bm25 import BM25Okapi

    from kefu.bot.kb_file import parse_kb, parse_queries

    jieba.setLogLevel(60)
    with kb.open(encoding="utf-8-sig", newline="") as f:
        docs = parse_kb(f)
    with queries.open(encoding="utf-8-sig", newline="") as f:
        items = parse_queries(f)
    started = time.perf_counter()
    corpus: list[list[str]] = []
    owner: list[str] = []
    for doc in docs:
        for question in doc.questions:
            corpus.append(list(jieba.cut(question)))
            owner.append(doc.entry_id)
    bm25 = BM25Okapi(corpus)
    build_s = time.perf_counter() - started
    in_kb = top1 = top3 = answered_out = out_kb = 0
    reciprocal = 0.0
    latencies: list[float] = []
    for item in items:
        t = time.perf_counter()
        scores = bm25.get_scores(list(jieba.cut(item.query)))
        ranked: list[str] = []
        for i in np.argsort(-scores, kind="stable"):
            if owner[i] not in ranked:
                ranked.append(owner[i])
                if len(ranked) == 10:
                    break
        latencies.append((time.perf_counter() - t) * 1000.0)
        if item.expected_id is None:
            out_kb += 1
            answered_out += 1
            continue
        in_kb += 1
        if item.expected_id in ranked:
            rank = ranked.index(item.expected_id) + 1
            reciprocal += 1.0 / rank
            top1 += rank == 1
            top3 += rank <= 3
    return {
        "n": len(items),
        "top1": round(top1 / in_kb, 4) if in_kb else None,
        "top3": round(top3 / in_kb, 4) if in_kb else None,
        "mrr": round(reciprocal / in_kb, 4) if in_kb else None,
        "answer_rate": 1.0,
        "answered_precision": round(top1 / in_kb, 4) if in_kb else None,
        "false_answer_rate": round(answered_out / out_kb, 4) if out_kb else None,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "build_s": round(build_s, 1),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(name: str, kb: Path, queries: Path) -> dict[str, Any]:
    log(f"{name}: kefu bot eval …")
    kefu = run_kefu(kb, queries)
    log(f"{name}: kefu {json.dumps(kefu)}")
    log(f"{name}: baseline (jieba + rank_bm25) …")
    baseline = run_baseline(kb, queries)
    log(f"{name}: baseline {json.dumps(baseline)}")
    return {
        "kefu": kefu,
        "baseline": baseline,
        "ratio": {
            "top1": ratio(kefu["top1"], baseline["top1"]),
            "top3": ratio(kefu["top3"], baseline["top3"]),
            "mrr": ratio(kefu["mrr"], baseline["mrr"]),
            "p99_ms": ratio(kefu["p99_ms"], baseline["p99_ms"]),
        },
    }


def synthetic(folder: Path, entries: int, queries: int, seed: int = 7) -> tuple[Path, Path]:
    """A knowledge base of ``entries`` FAQ-like entries from jieba's dictionary words, and questions on it.

    Each entry is a topic of two nouns and a verb asked in four ways (question words and word order
    vary); each query asks an entry's topic a fifth way with one word swapped for a random one, and one
    query in ten is about a topic that is not in the knowledge base."""
    import jieba

    rng = random.Random(seed)
    nouns: list[str] = []
    verbs: list[str] = []
    dictionary = Path(jieba.__file__).parent / "dict.txt"
    with dictionary.open(encoding="utf-8") as f:
        for line in f:
            word, freq, tag = line.split()
            if 2 <= len(word) <= 3 and int(freq) >= 200:
                if tag == "n":
                    nouns.append(word)
                elif tag == "v":
                    verbs.append(word)
    asks = ["怎么", "如何", "能不能", "为什么不能", "在哪里", "多久可以", "可以", "什么时候能"]
    tails = ["", "吗", "呢", "？", "啊"]

    def ask(topic: tuple[str, str, str]) -> str:
        noun_a, noun_b, verb = topic
        form = rng.randrange(3)
        if form == 0:
            return f"{noun_a}的{noun_b}{rng.choice(asks)}{verb}{rng.choice(tails)}"
        if form == 1:
            return f"{rng.choice(asks)}{verb}{noun_a}{noun_b}{rng.choice(tails)}"
        return f"我的{noun_b}{rng.choice(asks)}{verb}，{noun_a}{rng.choice(tails)}"

    topics = {(rng.choice(nouns), rng.choice(nouns), rng.choice(verbs)) for _ in range(entries * 2)}
    ordered = sorted(topics)
    rng.shuffle(ordered)
    kb_topics, outside = ordered[:entries], ordered[entries:]
    kb_path, queries_path = folder / "kb.csv", folder / "queries.csv"
    with kb_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question", "similar", "answer"])
        for i, topic in enumerate(kb_topics):
            writer.writerow([f"s{i:05d}", ask(topic), "\n".join(ask(topic) for _ in range(3)), f"answer {i}"])
    with queries_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "expected_id"])
        for q in range(queries):
            if q % 10 == 9:
                writer.writerow([ask(outside[q % len(outside)]), ""])
                continue
            i = rng.randrange(len(kb_topics))
            noun_a, noun_b, verb = kb_topics[i]
            swapped = (noun_a, rng.choice(nouns), verb) if rng.random() < 0.5 else (noun_a, noun_b, rng.choice(verbs))
            writer.writerow([ask(swapped), f"s{i:05d}"])
    return kb_path, queries_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with bq/ and atec/ (kb.csv, queries.csv)"
    )
    parser.add_argument("--sets", default="bq,atec", help="comma-separated sets under --data")
    parser.add_argument("--entries", type=int, default=10_000, help="entries of the synthetic knowledge base")
    parser.add_argument("--queries", type=int, default=1_000, help="queries on the synthetic knowledge base")
    parser.add_argument("--quick", action="store_true", help="bq only, 2,000-entry synthetic knowledge base")
    args = parser.parse_args()
    sets = ["bq"] if args.quick else [s for s in args.sets.split(",") if s]
    entries = 2_000 if args.quick else args.entries
    missing = [
        s for s in sets if not (args.data / s / "kb.csv").is_file() or not (args.data / s / "queries.csv").is_file()
    ]
    if missing:
        print(
            f"bench/bot.py: evaluation data not found: {', '.join(str(args.data / s) for s in missing)} "
            f"(each needs kb.csv and queries.csv; pass --data DIR)",
            file=sys.stderr,
        )
        raise SystemExit(2)

    out: dict[str, Any] = {"benchmark": "bot", "machine": machine(), "python": platform.python_version()}
    out["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    for name in sets:
        out[name] = compare(name, args.data / name / "kb.csv", args.data / name / "queries.csv")
    with tempfile.TemporaryDirectory(prefix="kefu-bench-bot-") as tmp:
        log(f"synthetic: {entries} entries, {args.queries} queries")
        kb, queries = synthetic(Path(tmp), entries, args.queries)
        out[f"synthetic_{entries}"] = compare(f"synthetic_{entries}", kb, queries)
    aims: dict[str, bool | None] = {}
    for name in sets:
        aims[f"{name}_top1_at_least_1.5x_baseline"] = (out[name]["ratio"]["top1"] or 0.0) >= 1.5
        far = out[name]["kefu"]["false_answer_rate"]
        aims[f"{name}_false_answer_rate_under_20pct"] = far is not None and far < 0.2
    aims[f"p99_under_5ms_at_{entries}_entries"] = out[f"synthetic_{entries}"]["kefu"]["p99_ms"] < 5.0
    out["aims"] = aims
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
