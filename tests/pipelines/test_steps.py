"""Steps: one step run alone on a few rows (local executor, seconds), a toy filter added to the step list
(rejected rows, manifest counts, resume, dry run) and ``--dropped-by`` for every step name."""

from __future__ import annotations

import json
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator import schema as S
from curator.demo import demo_config
from curator.settings import config_hash, load_config
from curator.stage import Filter
from curator.writers import parquet_files
from pipelines import build_outputs as B
from pipelines.build import STEPS, run_build
from pipelines.context import BuildContext
from pipelines.dry_run import estimate_build
from pipelines.state import BuildState
from pipelines.steps import RowStep, inputs


class ToyFilter(Filter):
    """Drops documents whose text length is a multiple of three."""

    name: ClassVar[str] = "toy_filter"

    def keep(self, batch: pa.Table) -> pa.Array:
        return pa.array([len(t) % 3 != 0 for t in batch.column(S.TEXT).to_pylist()], pa.bool_())

    def reason(self, dropped: pa.Table) -> str:
        return "length_divisible_by_3"


def _step(name: str):
    return next(s for s in STEPS if s.name == name)


def _docs(texts: list[str], **columns) -> pa.Table:
    n = len(texts)
    base = {S.ID: [f"d{i}" for i in range(n)], S.TEXT: texts, **columns}
    return S.conform(pa.table(base), S.DOC_SCHEMA)


def _run_one(step, table: pa.Table, tmp_path, **overrides):
    """Run ``step`` alone, in this process, on ``table``; return (stats, kept rows, rejected rows)."""
    cfg = load_config(None, {"ray": {"executor": "local"}, **overrides})
    out = tmp_path / "out"
    ctx = BuildContext(
        config=cfg,
        out=out,
        state=BuildState(out, config_hash(cfg)),
        chash=config_hash(cfg),
        progress=False,
        log=lambda m: None,
        steps=[step],
    )
    src = ctx.step_dir("src")
    src.mkdir(parents=True)
    pq.write_table(table, src / "part-00000.parquet")
    stats = step.run(ctx, src)
    kept = pa.concat_tables([pq.read_table(f) for f in parquet_files(ctx.step_dir(step.name))])
    rej = [pq.read_table(f) for f in parquet_files(ctx.rejected_dir(step.name))]
    return stats, kept, (pa.concat_tables(rej) if rej else None)


def test_heuristic_filter_step_alone(tmp_path):
    t = _docs(["a", "b", "c"], **{S.HEURISTIC_FLAGS: [[], ["too_few_words", "stop_words"], []]})
    stats, kept, rej = _run_one(_step("heuristic_filter"), t, tmp_path)
    assert kept.column(S.ID).to_pylist() == ["d0", "d2"]
    assert rej.column(S.DROP_STAGE).to_pylist() == ["heuristic_filter"] and rej.column(S.DROP_REASON).to_pylist() == [
        "too_few_words"
    ]
    assert (stats["in"], stats["out"], stats["dropped"], stats["reasons"]) == (3, 2, 1, {"too_few_words": 1})


def test_thresholds_step_alone(tmp_path):
    t = _docs(["a", "b", "c"], **{S.EDU_SCORE: pa.array([3.0, None, 1.0], pa.float32())})
    stats, kept, rej = _run_one(_step("thresholds"), t, tmp_path, thresholds={"phase1_min_score": 2.5})
    assert kept.column(S.ID).to_pylist() == ["d0"]
    assert set(rej.column(S.DROP_STAGE).to_pylist()) == {"thresholds"}
    assert stats["reasons"] == {"edu_score < 2.5": 2}


def test_language_filter_step_alone(tmp_path):
    texts = [
        "The cat sat on the mat and looked out of the window at the birds in the garden.",
        "Le chat est assis sur le tapis et regarde les oiseaux dans le jardin par la fenêtre.",
    ]
    stats, kept, rej = _run_one(_step("language_filter"), _docs(texts), tmp_path)
    assert kept.column(S.ID).to_pylist() == ["d0"] and kept.column(S.LANGUAGE).to_pylist() == ["en"]
    assert rej.column(S.DROP_STAGE).to_pylist() == ["language_filter"] and rej.column(S.DROP_REASON).to_pylist() == [
        "lang:fr"
    ]
    assert stats["languages"] == ["en"]


def test_exact_dedup_step_alone(tmp_path):
    from curator.dedup.exact import TextHashStage

    docs = TextHashStage()(_docs(["same text here", "Same  text here", "other"]))  # annotate adds the hash
    stats, kept, rej = _run_one(_step("exact_dedup"), docs, tmp_path)
    assert kept.num_rows == 2 and rej.num_rows == 1
    assert rej.column(S.DROP_STAGE).to_pylist() == ["exact_dedup"] and stats["reasons"] == {"exact_duplicate": 1}


def test_inputs_follow_the_list():
    src = inputs([s for s in STEPS if s.enabled(load_config(None, {}))])
    assert src["ingest"] is None and src["annotate"] == "ingest" and src["exact_dedup"] == "language_filter"
    assert src["write_phases"] == "thresholds"  # tokens and synthesis produce no document set of their own


# --------------------------------------------------------------------------- a toy filter in the list


class _Killed(BaseException):
    pass


def _toy_steps():
    i = [s.name for s in STEPS].index("heuristic_filter") + 1
    return [*STEPS[:i], RowStep("toy_filter", filter=ToyFilter), *STEPS[i:]]


def _outputs(out) -> dict:
    return {
        str(f.relative_to(out)): sorted(pq.read_table(f).to_pylist(), key=json.dumps)
        for d in ("phase1", "phase2", "rejected")
        for f in parquet_files(out / d)
    } | {
        "stages": [
            (s["name"], s.get("in"), s.get("out"), s.get("reasons"))
            for s in json.loads((out / "manifest.json").read_text())["stages"]
        ]
    }


@pytest.fixture(scope="module")
def toy_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    cfg = demo_config(root / "in", ray={"executor": "local"})
    run_build(cfg, root / "out", progress=False, log=lambda m: None, steps=_toy_steps())
    return cfg, root


def test_toy_filter_rejected_rows_and_counts(toy_build):
    _, root = toy_build
    out = root / "out"
    m = json.loads((out / "manifest.json").read_text())
    stages = {s["name"]: s for s in m["stages"]}
    names = [s["name"] for s in m["stages"]]
    assert names.index("heuristic_filter") + 1 == names.index("toy_filter")
    toy = stages["toy_filter"]
    assert toy["in"] == stages["heuristic_filter"]["out"] and stages["url_filter"]["in"] == toy["out"]
    assert toy["dropped"] > 0 and toy["reasons"] == {"length_divisible_by_3": toy["dropped"]} and m["counts_balanced"]
    rej = B.dropped(out, [S.ID, S.TEXT], stage="toy_filter")
    assert rej.num_rows == toy["dropped"] == m["outputs"]["rejected"]["toy_filter"]["rows"]
    assert set(rej.column(S.DROP_STAGE).to_pylist()) == {"toy_filter"}
    assert all(len(t) % 3 == 0 for t in rej.column(S.TEXT).to_pylist())
    assert all(len(t) % 3 != 0 for t in B.kept(out, [S.TEXT]).column(S.TEXT).to_pylist())
    assert B.dropped_by(out, "toy_filter", n=10_000).num_rows == toy["dropped"]


def test_toy_filter_resumes(toy_build, tmp_path, monkeypatch):
    """Stopped after the toy filter committed, then rerun: the rest reads its output (same result).

    One pass per step (``ray.fuse_row_steps: false``): fused, the row steps are one resume unit
    (tests/faults/test_kill_resume.py); the reference build was fused, so this also checks both agree."""
    import pipelines.runner

    cfg, root = toy_build
    cfg = cfg.model_copy(deep=True)
    cfg.ray.fuse_row_steps = False
    real = pipelines.runner.fault_point

    def stop(name: str) -> None:
        if name == "url_filter:start":
            raise _Killed
        real(name)

    monkeypatch.setattr(pipelines.runner, "fault_point", stop)
    with pytest.raises(_Killed):
        run_build(cfg, tmp_path / "out", progress=False, log=lambda m: None, steps=_toy_steps())
    state = json.loads((tmp_path / "out" / "_work" / "state.json").read_text())["steps"]
    assert "toy_filter" in state and "url_filter" not in state
    monkeypatch.setattr(pipelines.runner, "fault_point", real)
    run_build(cfg, tmp_path / "out", progress=False, log=lambda m: None, steps=_toy_steps())
    assert _outputs(tmp_path / "out") == _outputs(root / "out")


def test_toy_filter_in_the_dry_run(toy_build):
    cfg, root = toy_build
    est = estimate_build(cfg, steps=_toy_steps())
    names = [s.name for s in est.steps]
    assert names[names.index("heuristic_filter") + 1] == "toy_filter"
    toy, real = (
        est.step("toy_filter"),
        {s["name"]: s for s in json.loads((root / "out" / "manifest.json").read_text())["stages"]},
    )
    assert toy.docs_in == est.step("heuristic_filter").docs_out and 0 < toy.docs_out < toy.docs_in
    want = real["toy_filter"]["out"]
    assert want / 2 <= toy.docs_out <= want * 2


# --------------------------------------------------------------------------- --dropped-by, every step name


@pytest.mark.slow
def test_dropped_by_every_step_name(demo_build):
    from pipelines.cli import app

    m = json.loads((demo_build / "manifest.json").read_text())
    routing = [s for s in m["stages"] if "reasons" in s and s["name"] not in ("ingest", "annotate", "tokens")]
    assert {s["name"] for s in routing} >= {
        "heuristic_filter",
        "url_filter",
        "language_filter",
        "exact_dedup",
        "fuzzy_dedup",
        "decontam",
        "thresholds",
    }
    for st in routing:
        name = st["name"]
        got = B.dropped_by(demo_build, name, n=100_000)
        assert got.num_rows == st["dropped"], name
        assert set(got.column(S.DROP_STAGE).to_pylist()) <= {name}
        res = CliRunner().invoke(
            app, ["inspect", str(demo_build), "--dropped-by", name, "--n", "1"], env={"COLUMNS": "220"}
        )
        assert res.exit_code == 0, res.output
        if st["dropped"]:
            assert f"dropped by {name}" in res.output and f"{name}: " in res.output, name
        else:
            assert f"no document was dropped by {name!r}" in res.output
    # the names of builds made before steps had one name still work
    assert (
        B.dropped_by(demo_build, "language", n=100_000).num_rows
        == B.dropped_by(demo_build, "language_filter", n=100_000).num_rows
    )
