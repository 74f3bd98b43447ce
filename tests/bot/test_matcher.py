from __future__ import annotations

import dataclasses
import threading

import pytest

from kefu.bot import KbDoc, Matcher, Outcome
from kefu.bot.matcher import DUPLICATE_FLOOR, DuplicatePair
from tests.bot.conftest import FIXED, SHOP_FAQ


def test_a_paraphrase_finds_its_entry(matcher: Matcher) -> None:
    assert matcher.search("退货要怎么操作")[0].entry_id == "return"
    assert matcher.search("能不能开发票")[0].entry_id == "invoice"
    assert matcher.search("快递多久到")[0].entry_id == "delivery"


def test_search_gives_one_hit_per_entry_best_first(matcher: Matcher) -> None:
    hits = matcher.search("发票", k=5)
    assert len({h.entry_id for h in hits}) == len(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].entry_id == "invoice" and hits[0].matched_question in SHOP_FAQ[1].questions


def test_traditional_and_full_width_queries_match(matcher: Matcher) -> None:
    assert matcher.search("請問怎麼退貨？")[0].entry_id == "return"


def test_exact_question_is_answered(matcher: Matcher) -> None:
    decision = matcher.decide("怎么开发票")
    assert decision.outcome is Outcome.answer
    assert [h.entry_id for h in decision.hits] == ["invoice"]


def test_vague_question_gets_suggestions(matcher: Matcher) -> None:
    decision = matcher.decide("发票和地址")  # two entries, neither clearly
    assert decision.outcome is Outcome.suggest
    assert {"invoice", "address"} <= {h.entry_id for h in decision.hits} and len(decision.hits) <= 3


def test_unrelated_question_is_unknown(matcher: Matcher) -> None:
    assert matcher.decide("今天天气晴朗适合爬山").outcome is Outcome.unknown
    assert matcher.decide("").outcome is Outcome.unknown


def test_upsert_and_remove_take_effect_at_once(matcher: Matcher) -> None:
    assert matcher.search("会员积分怎么兑换")[0].entry_id != "points"
    matcher.upsert(KbDoc("points", "积分怎么兑换", ("会员积分能换什么",)))
    assert matcher.search("会员积分怎么兑换")[0].entry_id == "points"
    # replacing an entry replaces its questions
    matcher.upsert(KbDoc("points", "积分有效期多久"))
    assert matcher.search("会员积分能换什么", k=10)[0].entry_id != "points" or (
        matcher.search("会员积分能换什么")[0].matched_question == "积分有效期多久"
    )
    matcher.remove("points")
    assert all(h.entry_id != "points" for h in matcher.search("积分有效期多久", k=10))
    matcher.remove("points")  # removing twice is harmless
    assert len(matcher) == len(SHOP_FAQ)


def test_a_similar_question_added_later_is_answered(matcher: Matcher) -> None:
    question = "寄错地方了咋整"
    assert matcher.decide(question).outcome is not Outcome.answer
    entry = matcher.get("address")
    assert entry is not None
    matcher.upsert(KbDoc(entry.entry_id, entry.standard, (*entry.similar, question)))
    decision = matcher.decide(question)
    assert decision.outcome is Outcome.answer and decision.hits[0].entry_id == "address"


def test_many_edits_keep_results_exact() -> None:
    matcher = Matcher(SHOP_FAQ, thresholds=FIXED)
    for i in range(3000):  # enough removals to trigger the index's compaction
        matcher.upsert(KbDoc(f"tmp{i % 7}", f"临时问题{i}号", ("测试条目",)))
        matcher.remove(f"tmp{i % 7}")
    fresh = Matcher(SHOP_FAQ, thresholds=FIXED)
    for query in ("退货要怎么操作", "能不能开发票", "保修多久"):
        assert matcher.search(query) == fresh.search(query)


def test_synonyms_connect_different_words() -> None:
    docs = [KbDoc("refund", "退款多久到账"), KbDoc("ship", "多久发货")]
    plain = Matcher(docs, thresholds=FIXED)
    with_synonyms = Matcher(docs, synonyms=[["退款", "退钱", "返款"]], thresholds=FIXED)
    assert with_synonyms.search("退钱多久到账")[0].entry_id == "refund"
    assert with_synonyms.search("退钱多久到账")[0].score > plain.search("退钱多久到账")[0].score


def test_user_words_are_matched_whole() -> None:
    docs = [KbDoc("band", "云朵柔面巾纸有货吗"), KbDoc("soft", "面巾纸柔软吗")]
    matcher = Matcher(docs, user_words=["云朵柔"], thresholds=FIXED)
    assert matcher.search("云朵柔还有吗")[0].entry_id == "band"


def test_homophone_typo_still_matches(matcher: Matcher) -> None:
    # 发漂 for 发票, 保秀 for 保修: the right sound, the wrong character
    assert matcher.search("怎么开发漂")[0].entry_id == "invoice"
    assert matcher.search("保秀期多久")[0].entry_id == "warranty"


def test_character_typo_still_matches(matcher: Matcher) -> None:
    assert matcher.search("忘计密码怎么办")[0].entry_id == "password"


def test_empty_matcher_answers_nothing() -> None:
    matcher = Matcher()
    assert matcher.search("怎么退货") == []
    assert matcher.decide("怎么退货").outcome is Outcome.unknown


def test_readers_and_a_writer_on_several_threads(matcher: Matcher) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                hits = matcher.search("怎么退货")
                assert hits and hits[0].entry_id == "return"
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(300):
        matcher.upsert(KbDoc(f"extra{i % 10}", f"第{i}个无关问题关于天气", ("天气如何",)))
        if i % 3 == 0:
            matcher.remove(f"extra{(i + 5) % 10}")
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []


def test_demo_knowledge_base_answers_its_own_questions() -> None:
    import csv
    from pathlib import Path

    import kefu

    path = Path(kefu.__file__).parent / "demo_data" / "shop_kb.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    docs = [
        KbDoc(str(i), row["标准问题"], tuple(q for q in row["相似问题"].splitlines() if q.strip()))
        for i, row in enumerate(rows)
    ]
    matcher = Matcher(docs)  # 114 entries: calibrated over all five folds
    assert matcher.thresholds.source == "calibrated"
    right = sum(matcher.search(doc.standard)[0].entry_id == doc.entry_id for doc in docs)
    assert right >= 0.95 * len(docs)
    answered = sum(matcher.decide(doc.standard).outcome is Outcome.answer for doc in docs)
    assert answered >= 0.8 * len(docs)


def test_an_entry_about_another_product_is_not_the_answer() -> None:
    docs = [
        KbDoc("jiebei", "借呗提前还款有什么后果"),
        KbDoc("huabei", "花呗逾期还款会怎样"),
        KbDoc("phone", "怎么改手机号"),
    ]
    question = "花呗提前还款有什么后果"
    plain = Matcher(docs, thresholds=FIXED)
    assert plain.decide(question).hits[0].entry_id == "jiebei" and plain.decide(question).outcome is Outcome.answer
    # with the products in the tenant's dictionary, a 借呗 answer is not given to a 花呗 question
    products = Matcher(docs, user_words=["花呗", "借呗", "蚂蚁花呗"], thresholds=FIXED)
    assert products.decide(question).outcome is Outcome.suggest
    penalty = products.params.product_penalty
    assert products.search(question)[0].score == round(plain.search(question)[0].score - penalty, 6)
    # agreement: 蚂蚁花呗 names 花呗, so the 花呗 entry keeps its score
    assert products.search("蚂蚁花呗逾期还款")[0].entry_id == "huabei"
    # a query naming no product, and an entry naming none, are not penalised
    assert products.search("提前还款有什么后果")[0].score == plain.search("提前还款有什么后果")[0].score
    generic = Matcher([*docs, KbDoc("any", "提前还款有什么后果")], user_words=["花呗", "借呗"], thresholds=FIXED)
    assert [h.entry_id for h in generic.search(question, k=2)] == ["any", "jiebei"]


def test_product_agreement_follows_edits() -> None:
    products = Matcher(SHOP_FAQ, user_words=["云朵柔", "丝滑棉"], thresholds=FIXED)
    question = "丝滑棉面巾纸有货吗"
    products.upsert(KbDoc("cloud", "云朵柔面巾纸有货吗"))
    before = products.search(question)[0]
    assert before.entry_id == "cloud" and products.decide(question).outcome is not Outcome.answer
    products.upsert(KbDoc("cloud", "云朵柔面巾纸有货吗", ("丝滑棉面巾纸还有吗",)))  # now about both
    after = products.decide(question)
    assert after.outcome is Outcome.answer and after.hits[0].entry_id == "cloud"


def test_near_duplicates_are_the_same_question_in_other_words() -> None:
    docs = [
        KbDoc("a", "怎样申请花呗收款码", ("花呗收款码在哪申请",)),
        KbDoc("b", "花呗收款码怎样申请"),
        KbDoc("c", "借呗收款码怎样申请"),  # another product
        KbDoc("refund", "退款"),  # inside a longer, more specific question: not a duplicate
        KbDoc("refund-time", "退款多久到账"),
        KbDoc("phone", "怎么修改手机号"),
    ]
    plain = Matcher(docs, thresholds=FIXED)
    pairs = plain.near_duplicates(min_score=0.6)
    assert ("a", "b") in [(p.first, p.second) for p in pairs]  # the entry with more questions first
    assert all({p.first, p.second} != {"refund", "refund-time"} for p in pairs)
    ab = next(p for p in pairs if (p.first, p.second) == ("a", "b"))
    assert ab.second_question == "花呗收款码怎样申请" and 0.8 <= ab.score <= 1.0
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    # a pair marked not duplicates is left out before the limit applies, in either order of its ids
    rest = plain.near_duplicates(min_score=0.6, limit=1, exclude={frozenset(("b", "a"))})
    assert len(rest) == 1 and {rest[0].first, rest[0].second} != {"a", "b"}
    assert {(p.first, p.second) for p in pairs} - {("a", "b")} == {
        (p.first, p.second) for p in plain.near_duplicates(min_score=0.6, exclude={frozenset(("a", "b"))})
    }
    # with the products in the dictionary, the 借呗 entry is no duplicate of the 花呗 ones
    products = Matcher(docs, user_words=["花呗", "借呗"], thresholds=FIXED).near_duplicates(min_score=0.6)
    assert any({p.first, p.second} == {"b", "c"} for p in pairs)
    assert all("c" not in (p.first, p.second) for p in products) and ("a", "b") in [
        (p.first, p.second) for p in products
    ]
    # one scan (down to DUPLICATE_FLOOR) serves every threshold until the next edit, with the same pairs as
    # a scan at that threshold
    scanned = [dataclasses.replace(p, score=round(p.score, 4)) for p in plain._scan_duplicates(0.6)]
    assert plain.near_duplicates(min_score=0.6) == pairs == scanned
    assert plain.near_duplicates(min_score=0.85) == [p for p in pairs if p.score >= 0.85]
    plain.upsert(KbDoc("phone-2", "手机号怎么修改"))
    assert any({p.first, p.second} == {"phone", "phone-2"} for p in plain.near_duplicates(min_score=0.6))
    plain.remove("phone-2")
    assert plain.near_duplicates(min_score=0.6) == pairs
    # edits are seen at once
    plain.remove("b")
    assert all("b" not in (p.first, p.second) for p in plain.near_duplicates(min_score=0.6))
    assert [(p.first, p.second) for p in plain.near_duplicates(min_score=0.8)] == []


def test_callers_during_a_duplicate_scan_share_it(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [KbDoc("a", "怎样申请花呗收款码"), KbDoc("b", "花呗收款码怎样申请"), KbDoc("c", "退款多久到账")]
    matcher = Matcher(docs, thresholds=FIXED)
    scans: list[float] = []
    started, release = threading.Event(), threading.Event()
    scan = matcher._scan_duplicates

    def slow_scan(min_score: float) -> list[DuplicatePair]:
        scans.append(min_score)
        started.set()
        release.wait(5)
        return scan(min_score)

    monkeypatch.setattr(matcher, "_scan_duplicates", slow_scan)
    results: list[list[DuplicatePair]] = []
    callers = [threading.Thread(target=lambda: results.append(matcher.near_duplicates(0.8))) for _ in range(3)]
    callers[0].start()
    assert started.wait(5)
    for caller in callers[1:]:
        caller.start()
    release.set()
    for caller in callers:
        caller.join(5)
    assert scans == [DUPLICATE_FLOOR] and len(results) == 3 and all(r == results[0] for r in results)
    assert [(p.first, p.second) for p in results[0]] == [("a", "b")]
