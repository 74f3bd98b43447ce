"""The serving process's garbage-collector settings (kefu.ops.gc_tuning)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from kefu.ops.gc_tuning import GEN0_THRESHOLD, tune_gc_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_what_exists_at_start_is_frozen_and_the_young_are_collected_less_often(restore_gc: None) -> None:
    kept_for_life = [{"n": i} for i in range(1000)]
    tune_gc_for_serving()
    assert gc.get_freeze_count() >= len(kept_for_life)
    assert gc.get_threshold()[0] == GEN0_THRESHOLD > 700


def test_garbage_cycles_made_after_the_freeze_are_still_collected(restore_gc: None) -> None:
    tune_gc_for_serving()

    class Node:
        other: Node | None = None

    collected: list[bool] = []
    a, b = Node(), Node()
    a.other, b.other = b, a

    weakref.finalize(a, collected.append, True)
    del a, b
    gc.collect()
    assert collected == [True]
