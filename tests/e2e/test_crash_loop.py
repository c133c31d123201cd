"""kill -9 of each service during a steady stream: the small version of the crash loop.

`python -m benchmarks.crash_loop` runs 20 kills of each service and prints the figures;
here one round each shows that every report still has an outcome, none opened two
incidents, verify finds nothing, and each service is back at work after its kill.
"""

from __future__ import annotations

import pytest

from benchmarks.crash_loop import crash_loop, summary

pytestmark = pytest.mark.e2e


async def test_a_kill_9_of_each_service_loses_and_doubles_nothing(topics, database):
    result = await crash_loop(
        topics, rounds=1, rate=50, services=("router", "incidents", "recorder"), seed=1
    )
    print(summary(result))
    assert result.sent > 500 and result.lost == 0, summary(result)
    assert not result.opened_twice and not result.never_recovered, summary(result)
    assert result.verify is not None and result.verify.ok, summary(result)
    assert set(result.recovery_s) == {"router", "incidents", "recorder"}
