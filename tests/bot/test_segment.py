from __future__ import annotations

from kefu.bot.segment import Segmenter, shared_tokenizer


def test_user_words_are_kept_whole() -> None:
    assert Segmenter().cut("小米手环8怎么充电")[:2] != ["小米手环8", "怎么"]
    assert Segmenter(["小米手环8"]).cut("小米手环8怎么充电") == ["小米手环8", "怎么", "充电"]


def test_longest_user_word_wins() -> None:
    assert Segmenter(["微粒贷", "微粒贷额度"]).cut("微粒贷额度不够") == ["微粒贷额度", "不够"]


def test_user_words_do_not_leak_between_segmenters() -> None:
    tenant_a = Segmenter(["云朵柔"])
    tenant_b = Segmenter()
    assert "云朵柔" in tenant_a.cut("云朵柔面巾纸")
    assert "云朵柔" not in tenant_b.cut("云朵柔面巾纸")
    assert "云朵柔" not in shared_tokenizer().FREQ


def test_the_jieba_tokenizer_is_shared() -> None:
    assert shared_tokenizer() is shared_tokenizer()


def test_whitespace_is_not_a_word() -> None:
    assert Segmenter().cut("hello world") == ["hello", "world"]
