"""The simulated knowledge-base administrator: clears the learning queue (学习队列) as a shop's admin does.

A real admin reads the open items, most asked first, and for each one she knows what the visitor meant:
a question the FAQ covers in other words (she adds the wording to that entry as a similar question), small
talk or a complaint (nothing to learn: she ignores it), or a topic the FAQ lacks (it needs a new entry
with an answer the shop has to write: she leaves it open). The simulator's admin knows what its visitors
meant from the script (:meth:`kefu.sim.script.Script.meant`), so what she attaches is right; she has time
for ``per_review`` items per review. This is what makes the demo bot get better while the demo runs: a
wording she attached is answered the next time a visitor uses it, and the bot's answer rate climbs.

Pure: :func:`review` decides; the driver (``kefu.sim.driver.SimCurator``) reads the queue and carries the
steps out through the REST API, on the simulated clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from kefu.sim.script import Script

__all__ = ["CurationStep", "CuratorBehaviour", "QueueItem", "review"]


@dataclass(frozen=True)
class CuratorBehaviour:
    first_review_s: float = 1800.0  # simulated seconds after the start of the run
    review_every_s: float = 3600.0  # simulated seconds between reviews: hourly, as at a busy shop
    per_review: int = 12  # items she has time to attach or ignore in one review


@dataclass(frozen=True)
class QueueItem:
    """What the admin reads of one open learning-queue item."""

    id: int
    samples: tuple[str, ...]  # the wordings visitors used, first asked first
    entry_id: int | None = None  # the entry it was attached to before it opened again (the bot still missed)


@dataclass(frozen=True)
class CurationStep:
    item_id: int
    action: Literal["attach", "ignore"]
    entry_id: int | None = None  # attach: the entry that answers it
    question: str | None = None  # attach: the wording added as a similar question


def review(
    items: Iterable[QueueItem], script: Script, entry_ids: Mapping[str, int], per_review: int
) -> list[CurationStep]:
    """The steps of one review of ``items`` (in the queue's order), at most ``per_review``.
    ``entry_ids``: the tenant's entries now, standard question → id.

    Left open (no step, and not counted against ``per_review``): a wording she does not recognise, a topic
    the FAQ does not cover, a question whose entry is gone, and one attached to the right entry before that
    the bot still misses — another entry competes for it, which needs a closer look than a review gives."""
    steps: list[CurationStep] = []
    for item in items:
        if len(steps) >= per_review:
            break
        wording, meant = next(((s, m) for s in item.samples if (m := script.meant(s)) is not None), ("", None))
        if meant is None or meant.kind == "uncovered":
            continue
        if meant.kb_question is None:
            steps.append(CurationStep(item.id, "ignore"))
            continue
        entry_id = entry_ids.get(meant.kb_question)
        if entry_id is None or entry_id == item.entry_id:
            continue
        steps.append(CurationStep(item.id, "attach", entry_id, wording))
    return steps
