"""Each tenant's matcher in this process, built from its knowledge base and kept current by KB events.

A matcher is built the first time a tenant's bot is asked (from the database, in a worker thread), then
every ``kb.entry_*`` event updates it in place (one entry's postings, no rebuild), so an entry edited or a
learning-queue question attached in the console is used by the next question, in every process (the
events come over the bus). Imports, dictionary and synonym changes drop the tenant's matcher; the next
question builds it again with the new words.

Validity periods are applied when asking, not when indexing: an entry is indexed while enabled, and its
hits are dropped outside ``valid_from``..``valid_until`` at the time of the question.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from kefu.bot.decision import Decision, Hit, decide
from kefu.bot.matcher import KbDoc, Matcher
from kefu.db.session import Database
from kefu.events.envelope import EventEnvelope
from kefu.models.kb import KbDictionaryWord, KbEntry, KbSimilarQuestion, KbSynonymSet

log = logging.getLogger(__name__)

#: Hits looked at before validity filtering (an expired entry must not hide the next best ones).
SEARCH_DEPTH = 8

_ENTRY_EVENTS = ("kb.entry_created", "kb.entry_updated")
_REBUILD_EVENTS = ("kb.imported", "kb.dictionary_changed", "kb.synonyms_changed")


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


@dataclass
class TenantBot:
    matcher: Matcher
    #: entry id → (valid_from, valid_until), only for entries that have a period.
    validity: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)

    def in_effect(self, entry_id: str, now: datetime) -> bool:
        period = self.validity.get(entry_id)
        if period is None:
            return True
        start, end = period
        return (start is None or start <= now) and (end is None or now < end)

    def search(self, text: str, now: datetime, k: int = 3) -> list[Hit]:
        hits = self.matcher.search(text, k=max(k, SEARCH_DEPTH))
        return [h for h in hits if self.in_effect(h.entry_id, now)][:k]

    def decide(self, text: str, now: datetime) -> Decision:
        return decide(self.search(text, now, k=SEARCH_DEPTH), self.matcher.thresholds)

    def apply(self, payload: dict[str, Any]) -> None:
        entry_id = str(payload["entry_id"])
        if not payload.get("enabled", True):
            self.matcher.remove(entry_id)
            self.validity.pop(entry_id, None)
            return
        similar = tuple(str(q) for q in payload.get("similar_questions") or ())
        self.matcher.upsert(KbDoc(entry_id, str(payload["standard_question"]), similar))
        start, end = _parse_time(payload.get("valid_from")), _parse_time(payload.get("valid_until"))
        if start is None and end is None:
            self.validity.pop(entry_id, None)
        else:
            self.validity[entry_id] = (start, end)


class BotRegistry:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._bots: dict[int, TenantBot] = {}
        self._lock = threading.RLock()
        #: Tenants being built, with the KB events that arrived meanwhile (applied once the build is done).
        self._building: dict[int, list[EventEnvelope]] = {}
        self._build_locks: dict[int, threading.Lock] = {}

    def bot_for(self, tenant_id: int) -> TenantBot:
        """The tenant's bot, built from the database if this process has none yet (blocking: call from a
        worker thread)."""
        bot = self._bots.get(tenant_id)
        if bot is not None:
            return bot
        with self._lock:
            build_lock = self._build_locks.setdefault(tenant_id, threading.Lock())
        with build_lock:  # one build per tenant at a time; the others wait for it
            bot = self._bots.get(tenant_id)
            if bot is not None:
                return bot
            while True:
                with self._lock:
                    self._building[tenant_id] = []
                try:
                    bot = self._build(tenant_id)
                except BaseException:
                    with self._lock:
                        self._building.pop(tenant_id, None)
                    raise
                with self._lock:
                    missed = self._building.pop(tenant_id, [])
                    if any(e.type in _REBUILD_EVENTS for e in missed):
                        continue  # the words changed while reading: read again
                    for event in missed:
                        self._apply(bot, event)
                    self._bots[tenant_id] = bot
                    return bot

    def _build(self, tenant_id: int) -> TenantBot:
        with self.database.session() as db:
            entries = db.execute(
                select(KbEntry.id, KbEntry.standard_question, KbEntry.valid_from, KbEntry.valid_until).where(
                    KbEntry.tenant_id == tenant_id, KbEntry.enabled.is_(True)
                )
            ).all()
            similar: dict[int, list[str]] = {}
            for entry_id, question in db.execute(
                select(KbSimilarQuestion.entry_id, KbSimilarQuestion.question)
                .where(KbSimilarQuestion.tenant_id == tenant_id)
                .order_by(KbSimilarQuestion.id)
            ):
                similar.setdefault(entry_id, []).append(question)
            words = list(db.scalars(select(KbDictionaryWord.word).where(KbDictionaryWord.tenant_id == tenant_id)))
            synonyms = list(db.scalars(select(KbSynonymSet.words).where(KbSynonymSet.tenant_id == tenant_id)))
        docs = [KbDoc(str(e.id), e.standard_question, tuple(similar.get(e.id, ()))) for e in entries]
        matcher = Matcher(docs, user_words=words, synonyms=synonyms)
        validity = {
            str(e.id): (e.valid_from, e.valid_until) for e in entries if e.valid_from is not None or e.valid_until
        }
        log.info("bot of tenant %s built: %d entries", tenant_id, len(docs))
        return TenantBot(matcher, validity)

    # --- kept current by events ------------------------------------------------------------------------

    def handle(self, event: EventEnvelope) -> None:
        """Apply a knowledge-base event (any other event is ignored)."""
        if not event.type.startswith("kb."):
            return
        with self._lock:
            building = self._building.get(event.tenant_id)
            if building is not None:
                building.append(event)
                return
            bot = self._bots.get(event.tenant_id)
            if bot is None:
                return
            if event.type in _REBUILD_EVENTS:
                del self._bots[event.tenant_id]
                return
        self._apply(bot, event)

    def _apply(self, bot: TenantBot, event: EventEnvelope) -> None:
        try:
            if event.type in _ENTRY_EVENTS:
                bot.apply(event.payload)
            elif event.type == "kb.entry_deleted":
                entry_id = str(event.payload["entry_id"])
                bot.matcher.remove(entry_id)
                bot.validity.pop(entry_id, None)
        except Exception:
            log.exception("applying %s to the bot of tenant %s failed; it is rebuilt", event.type, event.tenant_id)
            with self._lock:
                self._bots.pop(event.tenant_id, None)

    def forget(self, tenant_id: int) -> None:
        with self._lock:
            self._bots.pop(tenant_id, None)
