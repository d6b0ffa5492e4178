"""Train a classifier from annotation files (teacher or human labels, 0-5).

:func:`load_annotations` reads JSONL (plain, .gz) or Parquet with configurable text and
label fields and rejects bad rows with a count per reason (:data:`REJECT_REASONS`).
:func:`stratified_split` makes a reproducible stratified train/validation split.
:func:`train_from_annotations` ties them together: load, split, train, calibrate the decision
thresholds on the validation part (:mod:`classifiers.calibration`: "level >= 3" then means what the
annotator meant, however skewed the labels), evaluate there, write the model directory (artifact, card
with calibration and metrics, plots). :func:`check_enough_labels` refuses data too small to learn from and
says how many examples per level were found and how many are needed.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import MAX_SCORE, MIN_SCORE

MISSING_TEXT = "missing_text"
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
NON_NUMERIC_LABEL = "non_numeric_label"
NAN_LABEL = "nan_label"
LABEL_OUT_OF_RANGE = "label_out_of_range"
BAD_JSON = "bad_json"
REJECT_REASONS = (BAD_JSON, MISSING_TEXT, EMPTY_TEXT, MISSING_LABEL, NON_NUMERIC_LABEL, NAN_LABEL, LABEL_OUT_OF_RANGE)


@dataclass
class Annotations:
    """Accepted rows and the count of rejected rows per reason; ``reference`` (or ``None`` per row) when a second
    label field is read, with why a reference was unusable counted in ``reference_missing``."""

    texts: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)
    reference: list[float | None] | None = None
    reference_missing: Counter = field(default_factory=Counter)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


def _iter_records(path: Path):
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
            yield from batch.to_pylist()
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield BAD_JSON


def _check_label(value: Any) -> tuple[float | None, str | None]:
    if value is None:
        return None, MISSING_LABEL
    if isinstance(value, bool):
        return None, NON_NUMERIC_LABEL
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None, NON_NUMERIC_LABEL
    if not isinstance(value, (int, float)):
        return None, NON_NUMERIC_LABEL
    v = float(value)
    if math.isnan(v):
        return None, NAN_LABEL
    if not MIN_SCORE <= v <= MAX_SCORE:
        return None, LABEL_OUT_OF_RANGE
    return v, None


def load_annotations(
    path: str | Path, text_field: str = "text", label_field: str = "score", reference_field: str | None = None
) -> Annotations:
    """Read annotations, keeping rows with a non-empty text and a numeric label within [0, 5].

    Rejected rows are counted by reason (``bad_json``, ``missing_text``, ``empty_text``,
    ``missing_label``, ``non_numeric_label``, ``nan_label``, ``label_out_of_range``). With
    ``reference_field``, a bad or missing reference keeps the row (reference ``None``).
    """
    out = Annotations(reference=[] if reference_field else None)
    for rec in _iter_records(Path(path)):
        if rec == BAD_JSON or not isinstance(rec, dict):
            out.rejected[BAD_JSON] += 1
            continue
        text = rec.get(text_field)
        if not isinstance(text, str):
            out.rejected[MISSING_TEXT] += 1
            continue
        if not text.strip():
            out.rejected[EMPTY_TEXT] += 1
            continue
        label, reason = _check_label(rec.get(label_field))
        if reason:
            out.rejected[reason] += 1
            continue
        out.texts.append(text)
        out.labels.append(label)
        if reference_field:
            ref, why = _check_label(rec.get(reference_field))
            if why:
                out.reference_missing[why] += 1
            out.reference.append(ref)
    return out


def stratified_split(
    labels: list[float] | np.ndarray, valid_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid) stratified by rounded level; levels with one example go to train."""
    y = np.clip(np.rint(np.asarray(labels, dtype=np.float64)), MIN_SCORE, MAX_SCORE).astype(int)
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for level in np.unique(y):
        idx = np.flatnonzero(y == level)
        rng.shuffle(idx)
        n_valid = int(round(len(idx) * valid_fraction)) if len(idx) > 1 else 0
        valid.extend(idx[:n_valid].tolist())
        train.extend(idx[n_valid:].tolist())
    return np.array(sorted(train), dtype=int), np.array(sorted(valid), dtype=int)


MIN_EXAMPLES = 20  # usable rows needed to train at all
MIN_LEVELS = 2  # distinct levels needed (a model of one level cannot rank)


def check_enough_labels(labels: list[float] | np.ndarray, source: str = "annotations") -> None:
    """Raise :class:`curator.exceptions.InputError` when ``labels`` are too few or too uniform to train on."""
    from curator.exceptions import InputError

    y = np.clip(np.floor(np.asarray(labels, dtype=np.float64) + 0.5), MIN_SCORE, MAX_SCORE).astype(int)
    counts = np.bincount(y, minlength=6).tolist() if y.size else [0] * 6
    found = ", ".join(f"{k}: {c}" for k, c in enumerate(counts))
    if y.size < MIN_EXAMPLES or sum(c > 0 for c in counts) < MIN_LEVELS:
        raise InputError(
            f"{source}: too few labels to train a classifier (examples per level {found}); need at least "
            f"{MIN_EXAMPLES} examples over at least {MIN_LEVELS} levels, and for a calibrated 'level >= 3' decision "
            "about 10 or more at >= 3 in the validation part "
            "(annotate more documents: `curator annotate --sample N`)."
        )


def train_from_annotations(
    annotations: str | Path,
    out_dir: str | Path,
    backend: str = "fasttext",
    text_field: str = "text",
    label_field: str = "score",
    valid_fraction: float = 0.2,
    seed: int = 0,
    hyperparameters: dict[str, Any] | None = None,
    name: str | None = None,
    quantize: bool = True,
    folds: int = 5,
    log=print,
) -> dict[str, Any]:
    """Load, train, calibrate, evaluate and save. Returns a summary (model dir, rejected counts, metrics).

    ``folds >= 2`` (default 5): cross-fitting (:func:`classifiers.crossfit.train_calibrated`): the thresholds
    and the reported metrics come from out-of-fold scores of every row, and the saved model is trained on all
    rows. ``folds`` 0 or 1: one stratified split, ``valid_fraction`` held out for calibration and metrics, the
    model trained on the rest.
    """
    from classifiers import train_classifier
    from classifiers.calibration import fit_calibration
    from classifiers.crossfit import train_calibrated
    from classifiers.evaluation import compute_metrics, write_report

    ann = load_annotations(annotations, text_field, label_field)
    if ann.n_rejected:
        log(
            f"rejected {ann.n_rejected} annotation rows: "
            + ", ".join(f"{k}={v}" for k, v in sorted(ann.rejected.items())),
            file=sys.stderr,
        )
    check_enough_labels(ann.labels, f"{annotations} (text field {text_field!r}, label field {label_field!r})")
    texts = np.array(ann.texts, dtype=object)
    labels = np.array(ann.labels)
    hp = dict(hyperparameters or {})
    hp.setdefault("seed", seed)
    kwargs: dict[str, Any] = {"quantize": quantize} if backend == "fasttext" else {}
    data = {
        "annotations": str(annotations),
        "text_field": text_field,
        "label_field": label_field,
        "rejected": dict(ann.rejected),
        "split_seed": seed,
    }

    def fit(t: list[str], y: list[float], w: Any) -> Any:
        extra = {"sample_weight": w} if w is not None else {}
        return train_classifier(t, y, backend, name=name, hyperparameters=hp, training_data=data, **kwargs, **extra)

    out = Path(out_dir)
    if folds >= 2:
        clf, scores, metrics = train_calibrated(
            fit, texts.tolist(), labels.tolist(), folds, seed, log=lambda m: log(m, file=sys.stderr)
        )
        eval_labels = labels
        data.update(n_train=int(len(texts)), n_valid=0, folds=folds)
        where = f"out-of-fold ({folds} folds)"
    else:
        tr, va = stratified_split(ann.labels, valid_fraction, seed)
        if not len(va):
            from curator.exceptions import InputError

            raise InputError(
                f"{annotations}: no validation rows with --valid-fraction {valid_fraction:g}; use --folds 5"
            )
        clf = fit(texts[tr].tolist(), labels[tr].tolist(), None)
        calibration = fit_calibration(clf.predict_raw(texts[va].tolist()), labels[va])
        calibration.fitted_on["split"] = (
            f"stratified validation part ({valid_fraction:g}, seed {seed}) of {annotations}"
        )
        clf.set_calibration(calibration)
        scores = clf.predict(texts[va].tolist())
        eval_labels = labels[va]
        metrics = compute_metrics(eval_labels, scores)
        data.update(n_train=int(len(tr)), n_valid=int(len(va)))
        where = "validation"
    calibration = clf.calibration
    if calibration is not None and not calibration.fitted[2]:
        n3 = int((np.floor(eval_labels + 0.5) >= 3).sum())
        log(
            f"warning: only {n3} labelled examples at level >= 3: "
            "the '>= 3' threshold was placed by the spacing of the other levels, not fitted; annotate more documents.",
            file=sys.stderr,
        )
    clf.card.training_data.update(data)
    clf.card.metrics = {where: metrics}
    clf.save(out)
    write_report(metrics, eval_labels, scores, out, prefix="validation_")
    return {
        "model_dir": str(out),
        "version": clf.version,
        "backend": backend,
        "n_train": data["n_train"],
        "n_valid": data["n_valid"],
        "folds": folds if folds >= 2 else 0,
        "rejected": dict(ann.rejected),
        "metrics": metrics,
    }
