"""The bot at work in this process: a turn after each visitor message in a conversation still with the
bot, and suggested answers for agents.

Called by the visitor's socket and the REST fallback right after the visitor's message is committed
(blocking: from a worker thread), in the process the visitor is connected to, so that one message gets one
reply whatever the number of processes. The reply goes through an action (``do_bot_reply``) and reaches
the visitor and any watcher as a ``message`` event like every other message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from kefu.actions.bot import do_bot_reply
from kefu.actions.messages import Stored
from kefu.bot.registry import BotRegistry
from kefu.bot.smalltalk import small_talk
from kefu.bot.turn import (
    DEFAULT_MAX_MISSES,
    BotTexts,
    KbAnswer,
    Reply,
    handover_reply,
    misses_in_a_row,
    picked_answer,
    reply_to,
    small_talk_reply,
    suggested_for,
    wants_person,
)
from kefu.db.base import utcnow
from kefu.db.session import Database
from kefu.kb.richtext import answer_text
from kefu.models.channel import Channel
from kefu.models.conversation import Conversation, ConversationStatus, Message, SenderKind
from kefu.models.kb import KbEntry

log = logging.getLogger(__name__)

#: Small-talk replies read beyond ``max_misses`` when counting the misses in a row (they do not count).
SMALL_TALK_BETWEEN = 8


@dataclass(frozen=True)
class Turn:
    reply: Reply
    stored: Stored


@dataclass(frozen=True)
class BotConfig:
    enabled: bool
    max_misses: int
    texts: BotTexts
    small_talk: bool = True  # 寒暄 (``kefu.bot.smalltalk``)


def bot_config(channel_config: dict[str, Any] | None) -> BotConfig:
    c = channel_config or {}
    defaults = BotTexts()
    misses = c.get("bot_max_misses", DEFAULT_MAX_MISSES)
    return BotConfig(
        enabled=bool(c.get("bot_enabled")),
        max_misses=misses if isinstance(misses, int) and 0 <= misses <= 20 else DEFAULT_MAX_MISSES,
        small_talk=c.get("bot_small_talk") is not False,
        texts=BotTexts(
            unknown=str(c.get("bot_unknown_message") or defaults.unknown),
            suggest=str(c.get("bot_suggest_message") or defaults.suggest),
            handover=str(c.get("bot_handover_message") or defaults.handover),
        ),
    )


class BotService:
    def __init__(self, database: Database, registry: BotRegistry | None = None) -> None:
        self.database = database
        self.registry = registry or BotRegistry(database)

    def warm(self) -> int:
        """Build the bots of the tenants whose web channel has one, so that the first question of the day
        is not the one that waits for its knowledge base to be read (blocking; a worker thread). How many."""
        try:
            with self.database.session() as db:
                rows = db.execute(select(Channel.tenant_id, Channel.config).where(Channel.enabled.is_(True))).all()
        except Exception:
            log.warning("could not read which tenants have a bot; each is built at its first question")
            return 0
        tenants = sorted({r.tenant_id for r in rows if bot_config(r.config).enabled})
        for tenant_id in tenants:
            try:
                self.registry.bot_for(tenant_id)
            except Exception:
                log.exception("building the bot of tenant %s failed; it is built at its first question", tenant_id)
        return len(tenants)

    def entries(self, tenant_id: int, ids: list[int], now: datetime | None = None) -> dict[int, KbAnswer]:
        """The answerable entries among ``ids`` (enabled, in effect now)."""
        if not ids:
            return {}
        now = now or utcnow()
        with self.database.session() as db:
            rows = db.scalars(
                select(KbEntry).where(KbEntry.tenant_id == tenant_id, KbEntry.id.in_(ids), KbEntry.enabled.is_(True))
            ).all()
            return {
                e.id: KbAnswer(e.id, e.standard_question, e.answer, answer_text(e.answer))
                for e in rows
                if (e.valid_from is None or e.valid_from <= now) and (e.valid_until is None or now < e.valid_until)
            }

    def turn(self, *, tenant_id: int, conversation_id: int, text: str, entry_id: int | None = None) -> Turn | None:
        """The bot's reply to the visitor's message ``text`` (``entry_id``: the visitor picked one of the
        bot's suggestions), stored; None when the conversation is not with the bot or its channel has none."""
        now = utcnow()
        with self.database.session() as db:
            row = db.execute(
                select(Conversation.status, Channel.config)
                .join(Channel, Channel.id == Conversation.channel_id)
                .where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
            ).one_or_none()
            if row is None or row.status is not ConversationStatus.bot:
                return None
            config = bot_config(row.config)
            if not config.enabled:
                return None
            latest = [  # the bot's replies so far, newest first
                (meta or {}).get("bot") or {}
                for meta in db.scalars(
                    select(Message.meta)
                    .where(Message.conversation_id == conversation_id, Message.sender_kind == SenderKind.bot)
                    .order_by(Message.seq.desc())
                    .limit(max(config.max_misses, 1) + SMALL_TALK_BETWEEN)
                )
            ]
        misses = misses_in_a_row([bot.get("outcome", "") for bot in latest])
        reply = self._reply(tenant_id, text, entry_id, config, misses, now, latest[0] if latest else None)
        with self.database.session() as db:
            stored = do_bot_reply(db, conversation_id, tenant_id=tenant_id, reply=reply, now=now)
        return None if stored is None else Turn(reply, stored)

    def _reply(
        self,
        tenant_id: int,
        text: str,
        entry_id: int | None,
        config: BotConfig,
        misses: int,
        now: datetime,
        last_bot: dict[str, Any] | None,
    ) -> Reply:
        if entry_id is not None:
            chosen = self.entries(tenant_id, [entry_id], now).get(entry_id)
            if chosen is not None:
                return picked_answer(chosen, text, suggested_for(last_bot, entry_id))
        if wants_person(text):
            return handover_reply(text, config.texts)
        if config.small_talk and (kind := small_talk(text)) is not None:
            return small_talk_reply(kind, text)
        decision = self.registry.bot_for(tenant_id).decide(text, now)
        entries = self.entries(tenant_id, [int(h.entry_id) for h in decision.hits], now)
        return reply_to(decision, entries, text, misses_before=misses, max_misses=config.max_misses, texts=config.texts)

    def suggestions(self, tenant_id: int, text: str, k: int = 3) -> list[dict[str, Any]]:
        """Suggested answers for an agent (agent assist): the closest entries to ``text``, best first."""
        now = utcnow()
        hits = self.registry.bot_for(tenant_id).search(text, now, k=k)
        entries = self.entries(tenant_id, [int(h.entry_id) for h in hits], now)
        return [
            {
                "entry_id": e.entry_id,
                "question": e.question,
                "answer_html": e.answer_html,
                "answer_text": e.answer_text,
                "score": round(float(h.score), 4),
            }
            for h in hits
            if (e := entries.get(int(h.entry_id))) is not None
        ]
