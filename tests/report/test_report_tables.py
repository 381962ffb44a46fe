"""Report footnotes name a run's machine in words, never as a raw Python dict (issue 17)."""

from __future__ import annotations

import re

from tb_report_runs import make_run
from tokbench.report.document import build_document
from tokbench.report.markdown import render_markdown
from tokbench.report.tables import host_text
from tokbench.store import open_store


def _bench_environment() -> dict:
    """The environment a bench run stores: the host probe (a dict) under "host", as bench_run writes it."""
    from tokbench.bench.start import host_environment

    return {"host": host_environment(), "engine": {"name": "llama.cpp", "version": "test"}}


def test_footnotes_of_a_run_with_a_probed_host_are_words(tmp_path):
    env = _bench_environment()
    assert isinstance(env["host"], dict)
    db = tmp_path / "r.db"
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.003)], environment=env, name="probe")
    with open_store(db) as store:
        md = render_markdown(build_document(store, None, with_reference=False))
    notes = [line for line in md.splitlines() if re.match(r"\[\^\d+\]:", line)]
    run_notes = [n for n in notes if "tokbench run" in n]
    assert run_notes, notes
    for n in run_notes:
        assert "{" not in n and "}" not in n and "'cpu'" not in n, n
        assert env["host"]["host"] in n and f"{env['host']['cpu_count']} cores" in n


def test_host_text():
    host = {"host": "box", "cpu": "AMD EPYC", "cpu_count": 2, "memory_bytes": 24 * 2**30,
            "nvidia": [{"name": "NVIDIA H100 80GB HBM3"}], "hardware": {"label": "h100-sxm:80"}}
    assert host_text(host) == "box: AMD EPYC, 2 cores, 24 GiB RAM, NVIDIA H100 80GB HBM3, planned as h100-sxm:80"
    assert host_text("testhost") == "testhost" and host_text(None) == "this machine" and host_text({}) == "this machine"
