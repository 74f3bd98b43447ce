"""The simulated administrator's review of the learning queue (pure: the demo script and plain items)."""

from __future__ import annotations

from kefu.sim.curation import CurationStep, QueueItem, review
from kefu.sim.script import demo_script

SCRIPT = demo_script()
ENTRIES = {entry.question: n for n, entry in enumerate(SCRIPT.kb, start=1)}
ORDER = SCRIPT.visitor.kb["怎么下单"][1]  # 这个东西怎么拍啊
PAY = SCRIPT.visitor.kb["支持货到付款吗"][0]
HELLO = SCRIPT.visitor.out_of_scope["chitchat"][0]
COMPLAINT = SCRIPT.visitor.out_of_scope["complaint"][0]
UNCOVERED = SCRIPT.visitor.out_of_scope["uncovered"][0]


def test_the_script_knows_what_its_visitors_meant() -> None:
    meant = SCRIPT.meant(ORDER)
    assert meant is not None and (meant.kind, meant.kb_question) == ("kb", "怎么下单")
    again = SCRIPT.meant(f"  {ORDER}？？")  # as the learning queue may show it: spaces, punctuation
    assert again == meant
    complaint = SCRIPT.meant(COMPLAINT)
    assert complaint is not None and (complaint.kind, complaint.kb_question) == ("complaint", None)
    assert SCRIPT.meant("订单号 2026111100123") is None  # a line to an agent, not to the bot
    assert SCRIPT.meant("怎么下单") is None  # the standard question itself is the KB's, not a visitor line


def test_a_review_attaches_wordings_to_the_entry_meant_and_ignores_small_talk() -> None:
    items = [
        QueueItem(1, (ORDER,)),
        QueueItem(2, (HELLO,)),
        QueueItem(3, (UNCOVERED,)),
        QueueItem(4, ("一句谁也不认识的话", PAY)),  # one wording she knows is enough; that one is attached
        QueueItem(5, (COMPLAINT,)),
    ]
    assert review(items, SCRIPT, ENTRIES, per_review=10) == [
        CurationStep(1, "attach", ENTRIES["怎么下单"], ORDER),
        CurationStep(2, "ignore"),
        CurationStep(4, "attach", ENTRIES["支持货到付款吗"], PAY),
        CurationStep(5, "ignore"),
    ]


def test_what_a_review_leaves_open() -> None:
    items = [
        QueueItem(1, ("一句谁也不认识的话",)),  # unknown wording
        QueueItem(2, (UNCOVERED,)),  # needs a new entry and an answer the shop has to write
        QueueItem(3, (ORDER,), entry_id=ENTRIES["怎么下单"]),  # attached there before; the bot still misses it
        QueueItem(4, (PAY,)),  # its entry is gone
    ]
    entries = {q: i for q, i in ENTRIES.items() if q != "支持货到付款吗"}
    assert review(items, SCRIPT, entries, per_review=10) == []
    # attached to the wrong entry before: she attaches it to the right one
    wrong = QueueItem(5, (ORDER,), entry_id=ENTRIES["支持货到付款吗"])
    assert review([wrong], SCRIPT, ENTRIES, per_review=10) == [CurationStep(5, "attach", ENTRIES["怎么下单"], ORDER)]


def test_a_review_takes_the_first_items_she_has_time_for() -> None:
    items = [QueueItem(1, (UNCOVERED,)), QueueItem(2, (ORDER,)), QueueItem(3, (HELLO,)), QueueItem(4, (PAY,))]
    steps = review(items, SCRIPT, ENTRIES, per_review=2)
    assert [s.item_id for s in steps] == [2, 3]  # what she leaves open does not use up her time
    assert review(items, SCRIPT, ENTRIES, per_review=0) == []
