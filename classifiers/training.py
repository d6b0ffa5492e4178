"""Train a classifier from annotation files (teacher or human labels, 0-5).

:func:`load_annotations` reads JSONL (plain, .gz) or Parquet with configurable text and
label fields and rejects bad rows with a count per reason (:data:`REJECT_REASONS`).
:func:`stratified_split` makes a reproducible stratified train/validation split.
:func:`train_from_annotations` ties them together: load, split, train, evaluate on the
validation part, write the model directory (artifact, card with metrics, plots).
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
    """Accepted rows and the count of rejected rows per reason."""

    texts: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)

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


def load_annotations(path: str | Path, text_field: str = "text", label_field: str = "score") -> Annotations:
    """Read annotations, keeping rows with a non-empty text and a numeric label within [0, 5].

    Rejected rows are counted by reason (``bad_json``, ``missing_text``, ``empty_text``,
    ``missing_label``, ``non_numeric_label``, ``nan_label``, ``label_out_of_range``).
    """
    out = Annotations()
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
    return out


def stratified_split(labels: list[float] | np.ndarray, valid_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
    log=print,
) -> dict[str, Any]:
    """Load, split, train, evaluate and save. Returns a summary (model dir, rejected counts, metrics)."""
    from classifiers import train_classifier
    from classifiers.evaluation import compute_metrics, write_report

    ann = load_annotations(annotations, text_field, label_field)
    if ann.n_rejected:
        log(f"rejected {ann.n_rejected} annotation rows: " + ", ".join(f"{k}={v}" for k, v in sorted(ann.rejected.items())), file=sys.stderr)
    if len(ann.texts) < 2:
        from curator.exceptions import InputError

        raise InputError(f"{annotations}: only {len(ann.texts)} usable rows (field names: text={text_field!r}, label={label_field!r})")
    tr, va = stratified_split(ann.labels, valid_fraction, seed)
    texts = np.array(ann.texts, dtype=object)
    labels = np.array(ann.labels)
    hp = dict(hyperparameters or {})
    hp.setdefault("seed", seed)
    kwargs: dict[str, Any] = {"quantize": quantize} if backend == "fasttext" else {}
    clf = train_classifier(
        texts[tr].tolist(),
        labels[tr].tolist(),
        backend,
        name=name,
        hyperparameters=hp,
        training_data={"annotations": str(annotations), "text_field": text_field, "label_field": label_field, "n_train": int(len(tr)), "n_valid": int(len(va)), "rejected": dict(ann.rejected), "split_seed": seed},
        **kwargs,
    )
    metrics: dict[str, Any] = {}
    out = Path(out_dir)
    if len(va):
        scores = clf.predict(texts[va].tolist())
        metrics = compute_metrics(labels[va], scores)
        clf.card.metrics = {"validation": metrics}
    clf.save(out)
    if len(va):
        write_report(metrics, labels[va], scores, out, prefix="validation_")
    return {"model_dir": str(out), "version": clf.version, "backend": backend, "n_train": int(len(tr)), "n_valid": int(len(va)), "rejected": dict(ann.rejected), "metrics": metrics}
