"""The self-service bot's matching engine: normalise, segment, match against the knowledge base, decide.

Pure logic, no I/O: knowledge-base storage and the conversation flow live elsewhere and feed a
``Matcher`` with ``KbDoc`` entries.
"""

from __future__ import annotations

from kefu.bot.decision import Decision, Hit, Outcome, Thresholds
from kefu.bot.matcher import KbDoc, Matcher, MatchParams

__all__ = ["Decision", "Hit", "KbDoc", "MatchParams", "Matcher", "Outcome", "Thresholds"]
