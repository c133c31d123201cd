"""`signalpost bench --quick`: every benchmark still runs and reports figures, so none can rot."""

from __future__ import annotations

import asyncio
import json

import pytest

from benchmarks.suite import MODULES
from tests.support.service_process import SIGNALPOST

pytestmark = pytest.mark.e2e


async def test_quick_suite_prints_one_table_and_writes_every_figure(local_stack, tmp_path):
    results = tmp_path / "bench.json"
    bench = await asyncio.create_subprocess_exec(
        SIGNALPOST, "bench", "--quick", "--json", str(results),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(bench.communicate(), timeout=900)
    assert bench.returncode == 0, err.decode()[-3000:]
    figures = json.loads(results.read_text())
    table = out.decode()
    assert {f["component"] for f in figures} >= {"end to end", "router", "recorder", "gateway"}
    for figure in figures:
        assert figure["measure"] in table
        if figure["rate"] is not None:
            assert figure["rate"] > 0, figure
        if figure["baseline_rate"] is not None:
            assert figure["ratio"] == pytest.approx(figure["rate"] / figure["baseline_rate"])
    latencies = [f for f in figures if f["p50_ms"] is not None]
    assert latencies and all(f["p50_ms"] <= f["p95_ms"] <= f["p99_ms"] for f in latencies)
    assert all(f"# {module} done" in err.decode() for module in MODULES)
