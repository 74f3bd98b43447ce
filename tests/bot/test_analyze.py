from __future__ import annotations

from kefu.bot.analyze import Analyzer
from kefu.bot.synonyms import SynonymMap


def test_the_dictionary_words_a_question_names() -> None:
    analyzer = Analyzer(("花呗", "蚂蚁花呗", "借呗", "Mate60"))
    # a word names the dictionary words inside it: 蚂蚁花呗 names 花呗 too
    assert analyzer.analyze("蚂蚁花呗和借呗有什么区别").products == {"蚂蚁花呗", "花呗", "借呗"}
    assert analyzer.analyze("花呗怎么还款").products == {"花呗"}
    assert analyzer.analyze("ＭＡＴＥ６０多少钱").products == {"mate60"}  # normalised like the text
    assert analyzer.analyze("怎么修改手机号").products == frozenset()
    assert Analyzer().analyze("花呗怎么还款").products == frozenset()


def test_a_synonym_names_the_dictionary_word_it_is_rewritten_to() -> None:
    analyzer = Analyzer(("花呗",), SynonymMap([["花呗", "花贝"]]))
    assert analyzer.analyze("花贝怎么还款").products == {"花呗"}
    # a synonym set's canonical word that contains a dictionary word names it
    longer = Analyzer(("花呗",), SynonymMap([["蚂蚁花呗", "蚂蚁花贝"]]))
    assert longer.analyze("蚂蚁花贝逾期").products == {"花呗"}


def test_small_talk_around_a_question_is_not_matched_on() -> None:
    analyzer = Analyzer()
    plain = analyzer.analyze("退货流程是什么")
    assert analyzer.analyze("你好，退货流程是什么？谢谢！").terms == plain.terms
    assert analyzer.analyze("亲，在吗？退货流程是什么").text == plain.text
