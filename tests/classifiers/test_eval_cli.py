"""`curator eval-classifier`: model vs length baseline, the reference-label ceiling, plots, stderr table."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def model_dir(annotations, tmp_path_factory):
    from classifiers import train_classifier

    out = tmp_path_factory.mktemp("eval_cli") / "m"
    train_classifier(*annotations, "sklearn").save(out)
    return out


def test_eval_classifier_cli_reports_baseline_ceiling_and_plots(model_dir, heldout, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    texts, labels = heldout
    ann = tmp_path / "ann.jsonl"
    rows = []
    for i, (t, y) in enumerate(zip(texts, labels)):
        human = None if i % 5 == 0 else (y if i % 7 else max(0.0, y - 2))  # humans disagree now and then
        rows.append({"body": t, "llm": y, "human": human})
    ann.write_text("".join(json.dumps(r) + "\n" for r in rows) + json.dumps({"body": "x", "llm": 7}) + "\n")
    out = tmp_path / "rep"
    r = CliRunner().invoke(
        app,
        [
            "eval-classifier",
            "--model",
            str(model_dir),
            "--annotations",
            str(ann),
            "--text-field",
            "body",
            "--label-field",
            "llm",
            "--reference-label-field",
            "human",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["n"] == len(texts) and rep["rejected"] == {"label_out_of_range": 1} and rep["label_field"] == "llm"
    assert set(rep["summary"]) >= {"model", "length_baseline", "model_beats_length_baseline", "vs_reference"}
    for part in ("model", "length_baseline"):
        for key in (
            "roc_auc",
            "spearman",
            "macro_f1_at_3",
            "precision",
            "recall",
            "f1",
            "mse",
            "per_level",
            "confusion_matrix",
        ):
            assert key in rep[part], (part, key)
    assert rep["model"]["roc_auc"] > 0.95 and rep["model"]["macro_f1_at_3"] > 0.85
    assert (
        isinstance(rep["length_baseline"]["length_threshold_chars"], int)
        and "best case" in rep["length_baseline"]["decision"]
    )
    ref = rep["reference"]
    n_missing = sum(1 for row in rows if row["human"] is None)
    assert (
        ref["label_field"] == "human"
        and ref["n"] == len(texts) - n_missing
        and ref["missing"] == {"missing_label": n_missing}
    )
    # the ceiling is the teacher's agreement with the humans on the rows that have both
    from classifiers.evaluation import teacher_agreement

    both = [(row["llm"], row["human"]) for row in rows if row["human"] is not None]
    expected = teacher_agreement([a for a, _ in both], [b for _, b in both])
    assert ref["teacher_ceiling"]["roc_auc"] == pytest.approx(expected["roc_auc"]) and expected["roc_auc"] < 1.0
    assert ref["teacher_ceiling"]["macro_f1_at_3"] == pytest.approx(expected["macro_f1_at_3"])
    assert set(ref) >= {"teacher_ceiling", "model", "length_baseline"}
    # stderr: the summary table
    assert "length baseline" in r.stderr and "teacher (ceiling)" in r.stderr and "macroF1@3" in r.stderr
    assert "without a usable 'human' label" in r.stderr
    # files
    assert json.loads((out / "metrics.json").read_text())["reference"]["label_field"] == "human"
    for name in ("confusion_matrix", "score_distribution", "calibration", "roc", "roc_reference"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert rep["plots"][name] == str(out / f"{name}.png")


def test_eval_classifier_cli_errors(model_dir, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    ann = tmp_path / "a.jsonl"
    ann.write_text(json.dumps({"text": "hello", "score": "bad"}) + "\n")
    r = CliRunner().invoke(app, ["eval-classifier", "--model", str(model_dir), "--annotations", str(ann)])
    assert r.exit_code == 2 and "no usable rows" in r.output
    r = CliRunner().invoke(app, ["eval-classifier", "--model", str(tmp_path / "nope"), "--annotations", str(ann)])
    assert r.exit_code == 2
