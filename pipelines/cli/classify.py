"""Classifier commands: train-classifier, eval-classifier, score, train-default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from curator.exceptions import CuratorError
from pipelines.cli.root import app, exit_without_teardown


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@app.command("train-classifier")
def train_classifier_cmd(
    annotations: Path = typer.Option(
        ..., "--annotations", help="JSONL (.gz) or Parquet annotations with a text and a 0-5 label field."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Model directory to write (artifact, model_card.json, validation plots)."
    ),
    backend: str = typer.Option("fasttext", "--backend", help="fasttext or sklearn."),
    text_field: str = typer.Option("text", "--text-field", help="Field holding the document text."),
    label_field: str = typer.Option("score", "--label-field", help="Field holding the 0-5 label (int or float)."),
    folds: int = typer.Option(
        5,
        "--folds",
        help="Cross-fitting folds: thresholds and metrics from out-of-fold scores, the model trained on every row. "
        "0: one split (--valid-fraction).",
    ),
    valid_fraction: float = typer.Option(0.2, "--valid-fraction", help="Stratified validation share when --folds 0."),
    seed: int = typer.Option(0, "--seed", help="Split and training seed."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name (version = name-sha256[:12])."),
) -> None:
    """Train an educational-level classifier from annotations (calibrated so that level >= 3 means the annotator's 3);
    prints a JSON summary with out-of-fold metrics."""
    from classifiers import BACKENDS
    from classifiers.training import train_from_annotations

    if backend not in BACKENDS:
        _fail(ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}"))
    try:
        summary = train_from_annotations(
            annotations,
            out,
            backend=backend,
            text_field=text_field,
            label_field=label_field,
            valid_fraction=valid_fraction,
            seed=seed,
            name=name,
            folds=folds,
        )
    except (CuratorError, FileNotFoundError) as exc:
        _fail(exc)
    typer.echo(json.dumps(summary))


@app.command("eval-classifier")
def eval_classifier_cmd(
    model: str = typer.Option("default", "--model", help="Model directory or `default`."),
    annotations: Path = typer.Option(
        ..., "--annotations", help="JSONL (.gz) or Parquet annotations with a text and a 0-5 label field."
    ),
    text_field: str = typer.Option("text", "--text-field"),
    label_field: str = typer.Option(
        "score", "--label-field", help="The (teacher's) 0-5 label the model is judged against."
    ),
    reference_label_field: Optional[str] = typer.Option(
        None,
        "--reference-label-field",
        help="A second 0-5 label field (e.g. human labels beside the teacher's): "
        "adds the teacher's own agreement with it (the ceiling) "
        "and the model's and length baseline's metrics against it.",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Where to write metrics.json and the PNG plots (default: next to the annotations file)."
    ),
) -> None:
    """Evaluate a classifier on labelled documents beside the length baseline: a summary table on stderr,
    the metrics JSON on stdout, metrics.json and plots (confusion, score distribution, calibration, ROC) in --out."""
    import sys

    from classifiers import load_classifier
    from classifiers.evaluation import evaluate_classifier, format_summary
    from classifiers.training import load_annotations

    try:
        clf = load_classifier(model)
        docs = load_annotations(annotations, text_field, label_field, reference_label_field)
    except (CuratorError, FileNotFoundError) as exc:
        _fail(exc)
    if docs.n_rejected:
        print(
            f"rejected {docs.n_rejected} rows: " + ", ".join(f"{k}={v}" for k, v in sorted(docs.rejected.items())),
            file=sys.stderr,
        )
    if not docs.texts:
        _fail(ValueError(f"{annotations}: no usable rows (text field {text_field!r}, label field {label_field!r})"))
    if reference_label_field and docs.reference_missing:
        n_missing = sum(docs.reference_missing.values())
        print(
            f"{n_missing} rows without a usable {reference_label_field!r} label "
            "(left out of the reference comparison): "
            + ", ".join(f"{k}={v}" for k, v in sorted(docs.reference_missing.items())),
            file=sys.stderr,
        )
    out_dir = out or annotations.parent / f"{annotations.name.split('.')[0]}-eval"
    report = evaluate_classifier(clf, docs.texts, docs.labels, out_dir, reference=docs.reference)
    report["label_field"] = label_field
    if reference_label_field:
        report["reference"]["label_field"] = reference_label_field
        report["reference"]["missing"] = dict(docs.reference_missing)
    report["rejected"] = dict(docs.rejected)
    report["report_dir"] = str(out_dir)
    (Path(out_dir) / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_summary(report), file=sys.stderr)
    typer.echo(json.dumps(report))


@app.command("score")
def score_cmd(
    inputs: list[str] = typer.Argument(..., help="JSONL/Parquet files, directories or globs."),
    out: Path = typer.Option(..., "--out", help="Output directory: scored/*.parquet and quarantine/."),
    model: str = typer.Option(
        "default", "--model", help="Model directory or `default` (the shipped model, trained on real teacher labels)."
    ),
    fmt: str = typer.Option("auto", "--format", help="auto, jsonl, parquet or hf."),
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    actors: int = typer.Option(2, "--actors", help="Scoring actors (each loads the model once)."),
    batch_size: int = typer.Option(4096, "--batch-size"),
) -> None:
    """Add edu_score / edu_int_score / classifier_version to every document, on Ray."""
    from pipelines.runtime import ray_is_up
    from pipelines.score import run_score

    had_ray = ray_is_up()
    try:
        summary = run_score(
            inputs,
            out,
            model=model,
            fmt=fmt,
            text_field=text_field,
            id_field=id_field,
            num_actors=actors,
            batch_size=batch_size,
        )
    except CuratorError as exc:
        _fail(exc)
    typer.echo(json.dumps(summary))
    if not had_ray and ray_is_up():  # the Ray this command started: stop it, then skip the interpreter's teardown
        import ray

        ray.shutdown()
        exit_without_teardown()


@app.command("train-default")
def train_default_cmd(
    out: Optional[Path] = typer.Option(
        None, "--out", help="Model directory (default: the packaged classifiers/default)."
    ),
    annotations: Optional[Path] = typer.Option(
        None,
        "--annotations",
        help="Teacher labels (default: ../shared/data/labeled/fineweb_edu_llama3_annotations.jsonl).",
    ),
    distill: Optional[Path] = typer.Option(
        None,
        "--distill",
        help="Classifier-scored documents (default: ../shared/data/labeled/fineweb_edu_classifier_scores.jsonl).",
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Rebuild the default model from real teacher labels with the committed recipe
    (classifiers/recipes/default_model.py)."""
    from classifiers.recipes import default_model as recipe

    argv = ["--seed", str(seed)]
    for flag, val in (("--out", out), ("--annotations", annotations), ("--distill", distill)):
        if val is not None:
            argv += [flag, str(val)]
    try:
        recipe.main(argv)
    except FileNotFoundError as exc:
        _fail(exc)
