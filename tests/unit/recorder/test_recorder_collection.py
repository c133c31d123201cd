"""While recorders run, the cyclic collector waits for batches, and comes back after them."""

from __future__ import annotations

import gc

import pytest

from services.recorder.collection import BatchCollection

pytestmark = pytest.mark.unit


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_off_while_any_collection_is_open_and_restored_after():
    assert gc.isenabled()
    with BatchCollection():
        assert not gc.isenabled()
        with BatchCollection():  # a second recorder in the same process
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_found_off_is_left_off():
    gc.disable()
    try:
        with BatchCollection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cyclic_garbage_is_collected_every_few_ticks():
    with BatchCollection(every=3) as collection:
        Cycle()
        collection.tick()
        collection.tick()
        assert any(type(o) is Cycle for o in gc.get_objects())
        collection.tick()
        assert not any(type(o) is Cycle for o in gc.get_objects())
