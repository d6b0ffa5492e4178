"""Benchmark: educational classifiers on real teacher labels (the shared Llama-3 valid split), quality and speed.

Everything is trained on ``split: train`` of ``../shared/data/labeled/fineweb_edu_llama3_annotations.jsonl``
(plus, for the default recipe, the classifier-scored documents) and scored on ``split: valid`` (998 documents,
75 at >= 3), in one run:

* ``default_recipe``: the shipped model's recipe (:mod:`classifiers.recipes.default_model`), fit 1: the
  shipped model itself also saw the valid split, so it is not scored here;
* ``old_proxy``: the retired proxy default (:mod:`classifiers.recipes.proxy_model`, rebuilt from its recipe);
* ``length``: document length in characters (decision at its best macro-F1 cut on these documents);
* ``train_classifier_fasttext`` / ``train_classifier_sklearn``: ``curator train-classifier`` defaults
  (5-fold cross-fitted thresholds) on the train split's teacher labels only.

Per entry: ROC AUC at 3, Spearman, macro-F1 of ``edu_int_score >= 3`` vs ``label >= 3``, and predict docs/s on
the valid documents cut to ~2 KB, one process. ``ratio`` is the default recipe's docs/s over the bare fastText
library's ``multilinePredict`` on the same model and lines (the wrapper's cost); ``auc_vs_length`` the AUC
ratio against the length baseline. One JSON line.

    .venv/bin/python benchmarks/bench_classifier.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ANNOTATIONS = SHARED / "labeled" / "fineweb_edu_llama3_annotations.jsonl"
DISTILL = SHARED / "labeled" / "fineweb_edu_classifier_scores.jsonl"
DOC_CHARS = 2000


def _best_rate(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def _row(metrics: dict, rate: float | None) -> dict:
    r = {
        k: None if metrics.get(k) is None else round(float(metrics[k]), 4)
        for k in ("roc_auc", "spearman", "macro_f1_at_3", "precision", "recall")
    }
    r["docs_s"] = None if rate is None else round(rate)
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotations", type=Path, default=ANNOTATIONS)
    ap.add_argument("--distill", type=Path, default=DISTILL)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--skip-proxy", action="store_true", help="skip rebuilding the old proxy model (needs ../shared/data/web)"
    )
    args = ap.parse_args(argv)

    from classifiers import load_classifier
    from classifiers.baselines import length_baseline_metrics, text_lengths
    from classifiers.evaluation import compute_metrics
    from classifiers.fasttext_model import fasttext_lines
    from classifiers.recipes import default_model as recipe
    from classifiers.training import train_from_annotations

    rows = recipe.read_jsonl(args.annotations)
    train = [r for r in rows if r["split"] == "train"]
    valid = [r for r in rows if r["split"] == "valid"]
    v_texts = [r["text"] for r in valid]
    v_labels = np.array([float(r["score"]) for r in valid])
    speed_texts = [t[:DOC_CHARS] for t in v_texts]
    out: dict = {
        "bench": "classifier",
        "valid_docs": len(valid),
        "valid_positives_at_3": int((v_labels >= 3).sum()),
        "doc_chars": DOC_CHARS,
    }

    def measure(clf) -> dict:
        m = compute_metrics(v_labels, clf.predict(v_texts))
        return _row(m, _best_rate(lambda: clf.predict(speed_texts), len(speed_texts), args.repeats))

    # the default recipe, fit on the train split (+ distillation targets), thresholds cross-fitted there
    t0 = time.perf_counter()
    default, _ = recipe.fit_recipe_model(train, recipe.read_jsonl(args.distill))
    out["default_recipe"] = {**measure(default), "train_s": round(time.perf_counter() - t0, 1)}
    lines = fasttext_lines(speed_texts, "fold")
    bare = _best_rate(lambda: default._f.multilinePredict(lines, -1, 0.0, "replace"), len(lines), args.repeats)
    out["bare_fasttext_docs_s"] = round(bare)
    out["ratio"] = round(out["default_recipe"]["docs_s"] / bare, 3)

    lengths = text_lengths(v_texts)
    out["length"] = _row(length_baseline_metrics(v_labels, lengths), None)
    out["auc_vs_length"] = round(out["default_recipe"]["roc_auc"] / out["length"]["roc_auc"], 3)

    with tempfile.TemporaryDirectory(prefix="bench-classifier-") as tmp:
        train_file = Path(tmp) / "train.jsonl"
        train_file.write_text(
            "".join(json.dumps({"text": r["text"], "score": r["score"]}) + "\n" for r in train), encoding="utf-8"
        )
        for backend in ("fasttext", "sklearn"):
            t0 = time.perf_counter()
            train_from_annotations(train_file, Path(tmp) / backend, backend=backend, log=lambda *a, **k: None)
            out[f"train_classifier_{backend}"] = {
                **measure(load_classifier(Path(tmp) / backend)),
                "train_s": round(time.perf_counter() - t0, 1),
            }
        if not args.skip_proxy:
            from classifiers.recipes import proxy_model

            proxy_model.build_default_model(Path(tmp) / "proxy")
            out["old_proxy"] = measure(load_classifier(Path(tmp) / "proxy"))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
