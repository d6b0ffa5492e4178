"""ScoreStage on in-memory tables, the default model on the demo corpus, `curator score` on real Ray."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from classifiers.scoring import ScoreStage
from curator.schema import CLASSIFIER_VERSION, EDU_INT_SCORE, EDU_SCORE, ID, TEXT


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, annotations):
    from classifiers import train_classifier

    clf = train_classifier(
        *annotations, "fasttext", hyperparameters={"epoch": 25, "lr": 0.5, "dim": 16, "bucket": 20_000}
    )
    return str(clf.save(tmp_path_factory.mktemp("m") / "model"))


def test_score_stage_adds_typed_columns(model_dir, heldout):
    texts, labels = heldout
    table = pa.table({ID: [str(i) for i in range(len(texts))], TEXT: texts, "extra": list(range(len(texts)))})
    stage = ScoreStage(model=model_dir)
    out = stage(table)
    assert out.column_names == [ID, TEXT, "extra", EDU_SCORE, EDU_INT_SCORE, CLASSIFIER_VERSION]
    assert out.schema.field(EDU_SCORE).type == pa.float32() and out.schema.field(EDU_INT_SCORE).type == pa.int8()
    s = out.column(EDU_SCORE).to_numpy()
    ints = out.column(EDU_INT_SCORE).to_numpy()
    np.testing.assert_array_equal(ints, np.clip(np.rint(s), 0, 5).astype(np.int8))
    labels = np.asarray(labels)
    assert s[labels >= 4].mean() > s[labels <= 1].mean() + 2
    assert set(out.column(CLASSIFIER_VERSION).to_pylist()) == {stage.classifier.version}
    again = stage(out)  # idempotent: replaces, never duplicates, the score columns
    assert again.column_names == out.column_names and again.equals(out)


def test_score_stage_empty_and_null_text(model_dir):
    stage = ScoreStage(model=model_dir)
    empty = stage(pa.table({TEXT: pa.array([], pa.string())}))
    assert empty.num_rows == 0 and EDU_SCORE in empty.column_names
    out = stage(pa.table({TEXT: pa.array(["some text", None], pa.string())}))
    assert out.column(EDU_SCORE).null_count == 0


def test_default_model_ranks_demo_educational_above_spam_and_boilerplate():
    from classifiers import load_classifier
    from curator.demo import generate_demo_corpus

    rows = generate_demo_corpus(seed=0)
    clf = load_classifier("default")
    scores = clf.predict([r["text"] for r in rows])
    kinds = np.array([r["kind"] for r in rows])
    edu = scores[kinds == "educational"]
    for bad in ("spam", "boilerplate"):
        assert edu.mean() - scores[kinds == bad].mean() > 1.5, bad
        assert (scores[kinds == bad] >= 2.5).mean() < 0.1, bad
    # the synthetic "educational" templates are short and formulaic: a model of real teacher labels, calibrated to
    # keep the teacher's share (~8 %) at >= 3, keeps a large part of them, and many times the share of spam kept
    kept = (edu >= 2.5).mean()
    assert kept > 0.3 and all(kept > 5 * (scores[kinds == bad] >= 2.5).mean() for bad in ("spam", "boilerplate"))


def _write_inputs(tmp_path, texts):
    jsonl = tmp_path / "in" / "docs.jsonl"
    jsonl.parent.mkdir()
    with open(jsonl, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"j{i}", "text": t}) + "\n")
        f.write("{broken json\n")
    parquet = tmp_path / "in" / "docs.parquet"
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(len(texts))], "text": texts}), parquet)
    return jsonl, parquet


def test_run_score_on_jsonl_and_parquet(ray_local, tmp_path, model_dir, heldout):
    from pipelines.score import run_score

    texts = heldout[0][:30]
    jsonl, parquet = _write_inputs(tmp_path, texts)
    summary = run_score([str(jsonl), str(parquet)], tmp_path / "out", model=model_dir, batch_size=16)
    assert summary["scored"] == 60 and summary["quarantined"] == 1 and summary["inputs"] == 2
    table = pads.dataset(str(tmp_path / "out" / "scored"), format="parquet").to_table()
    assert sorted(table.column(ID).to_pylist()) == sorted([f"j{i}" for i in range(30)] + [f"p{i}" for i in range(30)])
    assert table.schema.field(EDU_SCORE).type == pa.float32() and table.schema.field(EDU_INT_SCORE).type == pa.int8()
    by_id = dict(zip(table.column(ID).to_pylist(), table.column(EDU_SCORE).to_pylist()))
    assert by_id["j3"] == by_id["p3"]  # same text, same score, whatever the input format
    from classifiers import load_classifier

    expected = load_classifier(model_dir).predict(texts)
    np.testing.assert_allclose([by_id[f"p{i}"] for i in range(30)], expected, rtol=1e-6)


def test_cli_score_train_and_eval(ray_local, tmp_path, heldout, annotation_factory):
    """The typer commands, in process (Ray is the shared session one)."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    runner = CliRunner()
    texts, labels = annotation_factory(n_per_class=30, seed=5)
    ann = tmp_path / "ann.jsonl"
    ann.write_text("".join(json.dumps({"body": t, "edu": s}) + "\n" for t, s in zip(texts, labels)))
    r = runner.invoke(
        app,
        [
            "train-classifier",
            "--annotations",
            str(ann),
            "--text-field",
            "body",
            "--label-field",
            "edu",
            "--backend",
            "sklearn",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["backend"] == "sklearn"
    r = runner.invoke(
        app,
        [
            "eval-classifier",
            "--model",
            str(tmp_path / "m"),
            "--annotations",
            str(ann),
            "--text-field",
            "body",
            "--label-field",
            "edu",
        ],
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout.strip().splitlines()[-1])
    assert metrics["model"]["f1"] > 0.9 and (tmp_path / "ann-eval" / "confusion_matrix.png").is_file()
    jsonl, _ = _write_inputs(tmp_path, heldout[0][:10])
    r = runner.invoke(
        app, ["score", str(jsonl), "--out", str(tmp_path / "scored"), "--model", str(tmp_path / "m"), "--actors", "1"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["scored"] == 10
    r = runner.invoke(app, ["score", str(jsonl), "--out", str(tmp_path / "x"), "--model", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(
        app, ["train-classifier", "--annotations", str(ann), "--backend", "xgb", "--out", str(tmp_path / "y")]
    )
    assert r.exit_code == 2 and "--backend" in r.output
