"""Answers are rich text shown in the visitor's browser: stored as sanitised HTML.

Sanitising uses nh3 (Python binding of the Rust crate ammonia, an HTML5-parser based allow-list
sanitiser): only the tags and attributes below survive, links and images only with http(s) (and
mailto/tel for links) or relative URLs, every link gets ``rel="noopener noreferrer"``, and script,
style and event-handler markup never reaches the output. The stored HTML is safe to insert as is.

Plain text (no markup) is kept as text: escaped, with line breaks as ``<br>``; ``answer_to_cell`` turns
such an answer back into plain text for the spreadsheet, so a round trip keeps a plain answer plain.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "img",
        "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
        "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
#: Links may open a new tab; any other target is dropped.
ALLOWED_ATTRIBUTE_VALUES = {"a": {"target": {"_blank"}}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

_TAG = re.compile(r"<!--|</?[a-zA-Z][^<>]*>")
_BR = re.compile(r"<br\s*/?>")
_ONLY_BR = re.compile(r"(?:[^<]|<br>)*")


def looks_like_html(text: str) -> bool:
    """Markup, not prose that happens to hold a ``<`` ("满 99 元 < 100 元")."""
    return bool(_TAG.search(text))


def sanitise_html(text: str) -> str:
    return nh3.clean(
        text,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        tag_attribute_values={
            tag: {a: set(v) for a, v in attrs.items()} for tag, attrs in ALLOWED_ATTRIBUTE_VALUES.items()
        },
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def text_to_html(text: str) -> str:
    return html.escape(text.strip(), quote=False).replace("\r\n", "\n").replace("\n", "<br>")


def answer_html(text: str) -> str:
    """The stored form of an answer typed as HTML or as plain text."""
    return sanitise_html(text) if looks_like_html(text) else text_to_html(text)


def answer_to_cell(stored: str) -> str:
    """An answer for a spreadsheet cell: plain text with line breaks when it holds no markup but ``<br>``,
    else its HTML."""
    if _ONLY_BR.fullmatch(stored):
        return html.unescape(_BR.sub("\n", stored))
    return stored


def answer_text(stored: str) -> str:
    """The answer without markup (for search snippets and plain-text channels)."""
    return html.unescape(re.sub(r"<[^>]+>", "", _BR.sub("\n", stored)))
