"""A build with synthesis on: teacher rows reach phase 2 with provenance, deduplicated, and a rerun uses the cache."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from curator import schema as S
from curator.demo import demo_config
from pipelines.build import run_build

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def _config(tmp_path, server, cache):
    return demo_config(
        tmp_path / "in",
        ray={"executor": "local"},
        synthesis={
            "enabled": True,
            "num_samples": 6,
            "seed_min_score": 2.5,
            "min_output_chars": 5,
            # the tiny model's tokenizer (trained on Python source) splits web text finely: 4,000 characters of a
            # real demo document can overflow its 4,096-token context; a real teacher takes the default
            "max_seed_chars": 1000,
            "teacher": {"base_url": server.base_url, "max_tokens": 48, "cache_dir": str(cache)},
        },
    )


def test_synthetic_rows_join_phase2(vllm_server, tmp_path):
    cache = tmp_path / "teacher-cache"
    out = tmp_path / "out"
    m = run_build(_config(tmp_path, vllm_server, cache), out, progress=False, log=lambda _: None)
    st = {s["name"]: s for s in m["stages"]}["synthesis"]
    assert st["teacher"]["requested"] == 6 and st["teacher"]["failed"] == 0, st
    assert st["in"] == st["out"] + st["dropped"] and st["out"] > 0
    syn_files = sorted((out / "phase2").glob("synthetic-*.parquet"))
    assert syn_files
    syn = pq.read_table(syn_files[0])
    assert syn.schema == S.DOC_SCHEMA
    phase1_ids = set(pq.read_table(out / "phase1").column(S.ID).to_pylist())
    for r in syn.to_pylist():
        assert r[S.SOURCE] == "synthetic" and r[S.SEED_ID] in phase1_ids
        assert (
            len(r[S.PROMPT_HASH]) == 64 and r[S.TEACHER_MODEL] and json.loads(r[S.SAMPLING_PARAMS])["max_tokens"] == 48
        )
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in (out / "phase2").glob("*.parquet"))
    assert m["outputs"]["phase2"]["rows"] == total == st["out"] + m["stages"][-1]["phase2_web_rows"]

    # same config into a new directory with the same teacher cache: nothing is asked again
    m2 = run_build(_config(tmp_path, vllm_server, cache), tmp_path / "out2", progress=False, log=lambda _: None)
    st2 = {s["name"]: s for s in m2["stages"]}["synthesis"]
    assert st2["teacher"]["cached"] == 6 and st2["teacher"]["generated"] == 0
    assert st2["out"] == st["out"]
