"""Benchmark: train-from-annotations on FineWeb-C Danish human labels, per backend.

Stratified 80/20 split (seed 0) of ``../shared/data/labeled/fineweb_c_danish.jsonl`` (rows
with a null ``int_score`` are skipped). Prints one JSON line per backend: train seconds,
predict docs/s, F1@3 and ROC AUC on the test part. For fastText, ``ratio`` is our
``predict`` docs/s over the bare library's ``predict(list, k=-1)`` on the same texts and
the same model (goal >= 0.8); it is a yardstick, not a target to tune on.

    .venv/bin/python benchmarks/bench_classifier.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "labeled" / "fineweb_c_danish.jsonl"


def _best_rate(fn, n: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from classifiers import train_classifier
    from classifiers.evaluation import compute_metrics
    from classifiers.training import load_annotations, stratified_split

    ann = load_annotations(args.data, "text", "int_score")
    tr, te = stratified_split(ann.labels, 0.2, seed=0)
    texts = np.array(ann.texts, dtype=object)
    labels = np.array(ann.labels)
    x_tr, y_tr, x_te, y_te = texts[tr].tolist(), labels[tr], texts[te].tolist(), labels[te]
    configs = {
        "fasttext": {"hyperparameters": {"epoch": 25, "lr": 0.5}, "quantize": True},
        "sklearn": {"hyperparameters": {"model": "ridge"}},
    }
    for backend, kw in configs.items():
        t = time.perf_counter()
        clf = train_classifier(x_tr, y_tr, backend, **kw)
        train_s = time.perf_counter() - t
        scores = clf.predict(x_te)
        m = compute_metrics(y_te, scores)
        ours = _best_rate(lambda: clf.predict(x_te), len(x_te), args.repeats)
        row = {
            "bench": "classifier",
            "backend": backend,
            "train_rows": len(x_tr),
            "test_rows": len(x_te),
            "rejected": dict(ann.rejected),
            "train_s": round(train_s, 2),
            "predict_docs_s": round(ours),
            "f1_at_3": round(m["f1"], 3),
            "roc_auc": None if m["roc_auc"] is None else round(m["roc_auc"], 3),
            "macro_f1": round(m["macro_f1"], 3),
            "spearman": None if m["spearman"] is None else round(m["spearman"], 3),
            "test_positives_at_3": int((y_te >= 3).sum()),
        }
        m2 = compute_metrics(y_te, scores, threshold=2.0)  # FineWeb-C Danish has few level>=3 rows
        row.update({"f1_at_2": round(m2["f1"], 3), "roc_auc_at_2": None if m2["roc_auc"] is None else round(m2["roc_auc"], 3), "test_positives_at_2": int((y_te >= 2).sum())})
        if backend == "fasttext":
            raw = clf._model  # the same fastText model, called the bare library way
            lines = [t.replace("\n", " ") for t in x_te]
            bare = _best_rate(lambda: raw.predict(lines, k=-1), len(x_te), args.repeats)
            row["bare_docs_s"] = round(bare)
            row["ratio"] = round(ours / bare, 3)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
