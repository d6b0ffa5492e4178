"""Evaluate a classifier the way a data team needs to trust it as a filter, plot it, calibrate a keep-threshold.

The decision is the model's integer level: a classifier's float ``edu_score`` is calibrated, and its
level is :func:`classifiers.base.scores_to_int` (``floor(score + 0.5)`` clipped to 0..5), so
"educational" is ``edu_int_score >= 3``, i.e. ``score >= 2.5``; the truth is ``label >= 3``.

* :func:`compute_metrics` — of float scores against 0-5 labels: ROC AUC at 3 (the float score ranks),
  Spearman, precision/recall/F1 and ``macro_f1_at_3`` (sklearn macro over the two classes) of the
  level decision, per-level precision/recall, the 6x6 confusion matrix (rows = true level, columns =
  predicted level), six-level macro-F1, accuracy, MSE and a calibration table.
* :func:`teacher_agreement` — the first labels (the teacher's) against a second, reference label
  column (e.g. humans): the ceiling a model trained on the teacher can hope to reach.
* :func:`evaluate_scores` / :func:`evaluate_classifier` — the full report: the model, always the
  length baseline (:mod:`classifiers.baselines`) on the same documents, and with reference labels
  the teacher's ceiling and both against the reference. :func:`format_summary` renders its table.
* :func:`write_report` — ``metrics.json`` plus PNG plots (:mod:`classifiers.plots`).
* :func:`calibrate_threshold` — the score threshold that keeps a target fraction of documents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.levels import N_CLASSES, scores_to_int
from classifiers.metrics import BINARY_THRESHOLD, _auc, _binary, _spearman, metrics_from_levels

__all__ = ["BINARY_THRESHOLD", "compute_metrics", "evaluate_classifier", "metrics_from_levels", "write_report"]
CALIBRATION_BIN_WIDTH = 0.5
SUMMARY_KEYS = ("roc_auc", "spearman", "macro_f1_at_3", "precision", "recall", "f1")


def calibration_table(
    y_true: Sequence[float],
    y_score: Sequence[float],
    threshold: float = BINARY_THRESHOLD,
    bin_width: float = CALIBRATION_BIN_WIDTH,
) -> dict[str, Any]:
    """Reliability of a calibrated score: per score bin of ``bin_width`` over [0, 5], the mean score,
    the mean label and the fraction of labels ``>= threshold``; per predicted level the same fraction.

    ``mean_abs_error`` is the document-weighted mean of ``|mean_score - mean_label|`` over the bins.
    """
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    edges = np.arange(0.0, 5.0 + bin_width / 2, bin_width)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, len(edges) - 2)
    bins, gap = [], 0.0
    for b in range(len(edges) - 1):
        m = which == b
        k = int(m.sum())
        row: dict[str, Any] = {
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "n": k,
            "mean_score": None,
            "mean_label": None,
            "frac_label_at_or_above_threshold": None,
        }
        if k:
            row.update(
                mean_score=float(s[m].mean()),
                mean_label=float(t[m].mean()),
                frac_label_at_or_above_threshold=float((t[m] >= threshold).mean()),
            )
            gap += k * abs(row["mean_score"] - row["mean_label"])
        bins.append(row)
    lv = scores_to_int(s)
    by_level = []
    for k in range(N_CLASSES):
        m = lv == k
        c = int(m.sum())
        by_level.append(
            {
                "level": k,
                "n": c,
                "mean_label": float(t[m].mean()) if c else None,
                "frac_label_at_or_above_threshold": float((t[m] >= threshold).mean()) if c else None,
            }
        )
    return {
        "threshold": float(threshold),
        "bin_width": float(bin_width),
        "mean_abs_error": float(gap / t.size) if t.size else None,
        "bins": bins,
        "by_predicted_level": by_level,
    }


def compute_metrics(
    y_true: Sequence[float], y_score: Sequence[float], threshold: float = BINARY_THRESHOLD
) -> dict[str, Any]:
    """Metrics of calibrated float scores ``y_score`` against 0-5 labels ``y_true`` (floats are rounded for levels).

    The decision is ``scores_to_int(score) >= threshold`` (with 3: ``score >= 2.5``), the truth
    ``label >= threshold``.

    Returns:
        A JSON-ready dict: ``n``, ``threshold``, ``decision`` (in words); ``precision``, ``recall``,
        ``f1`` of the decision and ``macro_f1_at_3`` (macro-F1 of the decision over both classes, at
        ``threshold``), ``n_positive`` / ``n_predicted_positive``; ``macro_f1`` (six levels),
        ``accuracy``, ``mse``, ``spearman``, ``roc_auc`` (``None`` when undefined, e.g. one class only),
        ``per_level`` (precision/recall/support/predicted of each level 0..5, precision ``None`` when
        nothing was predicted at that level), ``confusion_matrix``, ``true_label_counts``,
        ``predicted_level_counts`` and ``calibration`` (:func:`calibration_table`).
    """
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.shape} values, y_score {s.shape}")
    m = metrics_from_levels(t, s, scores_to_int(s), s, threshold)
    lowest = float(np.ceil(threshold) - 0.5)
    m["decision"] = f"edu_int_score >= {threshold:g} (score >= {lowest:g}) vs label >= {threshold:g}"
    m["calibration"] = calibration_table(t, s, threshold)
    return m


def teacher_agreement(
    teacher: Sequence[float], reference: Sequence[float], threshold: float = BINARY_THRESHOLD
) -> dict[str, Any]:
    """How well the teacher's labels agree with reference labels: the ceiling for a model trained on the teacher.

    ``roc_auc``: the teacher's label ranking vs ``reference >= threshold`` (ties count half);
    ``spearman``; ``macro_f1_at_3`` / ``precision`` / ``recall`` / ``f1`` of ``teacher >= threshold``
    vs ``reference >= threshold``.
    """
    a = np.asarray(teacher, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"teacher has {a.shape} values, reference {r.shape}")
    r_bin = r >= threshold
    out: dict[str, Any] = {
        "n": int(a.size),
        "threshold": float(threshold),
        "roc_auc": _auc(r_bin, a),
        "spearman": _spearman(a, r),
    }
    out.update(_binary(r_bin, a >= threshold))
    out["decision"] = f"teacher label >= {threshold:g} vs reference label >= {threshold:g}"
    return out


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in SUMMARY_KEYS}


def evaluate_scores(
    labels: Sequence[float],
    scores: Sequence[float],
    lengths: Sequence[float],
    reference: Sequence[float | None] | None = None,
    threshold: float = BINARY_THRESHOLD,
) -> dict[str, Any]:
    """The full evaluation report of model ``scores`` on labelled documents of ``lengths`` characters.

    Args:
        labels: the (teacher's) 0-5 labels.
        scores: the model's calibrated float scores, same order.
        lengths: document lengths in characters (the length baseline's score).
        reference: optional second labels (e.g. humans), ``None``/NaN where missing.

    Returns:
        ``{"n", "threshold", "summary", "model", "length_baseline"}`` and, with ``reference``,
        ``"reference": {"n", "teacher_ceiling", "model", "length_baseline"}`` (all on the rows that have
        a reference label). ``model`` holds :func:`compute_metrics`'s keys, ``length_baseline``
        :func:`classifiers.baselines.length_baseline_metrics`'s. ``summary`` holds AUC, Spearman,
        macro-F1@3, precision, recall, F1 side by side and which of them the model beats the baseline on.
    """
    from classifiers.baselines import length_baseline_metrics

    t = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    ln = np.asarray(lengths, dtype=np.float64)
    if not t.shape == s.shape == ln.shape:
        raise ValueError(f"labels {t.shape}, scores {s.shape} and lengths {ln.shape} differ in length")
    model = compute_metrics(t, s, threshold)
    base = length_baseline_metrics(t, ln, threshold)
    summary: dict[str, Any] = {
        "model": _summary(model),
        "length_baseline": {**_summary(base), "length_threshold_chars": base["length_threshold_chars"]},
    }
    summary["model_beats_length_baseline"] = {
        k: (model[k] > base[k]) if model[k] is not None and base[k] is not None else None
        for k in ("roc_auc", "spearman", "macro_f1_at_3")
    }
    report: dict[str, Any] = {
        "n": int(t.size),
        "threshold": float(threshold),
        "summary": summary,
        "model": model,
        "length_baseline": base,
    }
    if reference is not None:
        r = np.array([np.nan if v is None else float(v) for v in reference], dtype=np.float64)
        if r.shape != t.shape:
            raise ValueError(f"reference has {r.shape} values, labels {t.shape}")
        have = ~np.isnan(r)
        ref: dict[str, Any] = {"n": int(have.sum()), "n_missing": int((~have).sum())}
        if have.any():
            ref["teacher_ceiling"] = teacher_agreement(t[have], r[have], threshold)
            ref["model"] = compute_metrics(r[have], s[have], threshold)
            ref["length_baseline"] = length_baseline_metrics(r[have], ln[have], threshold)
            summary["vs_reference"] = {
                "n": ref["n"],
                "teacher_ceiling": _summary(ref["teacher_ceiling"]),
                "model": _summary(ref["model"]),
                "length_baseline": {
                    **_summary(ref["length_baseline"]),
                    "length_threshold_chars": ref["length_baseline"]["length_threshold_chars"],
                },
            }
        report["reference"] = ref
    return report


def _fmt(v: Any, width: int = 9) -> str:
    return f"{v:>{width}.3f}" if isinstance(v, (int, float)) and v is not None else f"{'-':>{width}}"


def format_summary(report: dict[str, Any]) -> str:
    """A small plain-text table of ``report['summary']``: model vs length baseline (vs reference labels)."""
    th = report.get("threshold", BINARY_THRESHOLD)
    s = report["summary"]
    model = report["model"]
    g = format(th, "g")
    head = f"{'':<24}{'ROC AUC':>9}{'Spearman':>9}{'macroF1@' + g:>11}{'P@' + g:>9}{'R@' + g:>9}"

    def row(name: str, m: dict[str, Any], note: str = "") -> str:
        cells = _fmt(m["roc_auc"]) + _fmt(m["spearman"]) + _fmt(m["macro_f1_at_3"], 11)
        return f"{name:<24}{cells}{_fmt(m['precision'])}{_fmt(m['recall'])}{note}"

    lines = [
        f"{report['n']} documents, {model['n_positive']} with label >= {th:g}; model decision: {model['decision']}",
        head,
        row("model", s["model"]),
        row(
            "length baseline",
            s["length_baseline"],
            f"  (length >= {s['length_baseline']['length_threshold_chars']} chars, tuned in-sample)",
        ),
    ]
    if "vs_reference" in s:
        v = s["vs_reference"]
        lines.append(f"against the reference labels ({v['n']} documents):")
        lines.append(row("teacher (ceiling)", v["teacher_ceiling"]))
        lines.append(row("model", v["model"]))
        lines.append(
            row(
                "length baseline",
                v["length_baseline"],
                f"  (length >= {v['length_baseline']['length_threshold_chars']} chars)",
            )
        )
    return "\n".join(lines)


def calibrate_threshold(scores: Sequence[float], keep_fraction: float) -> float:
    """The threshold ``th`` such that ``scores >= th`` keeps about ``keep_fraction`` of them.

    Ties may keep slightly more. ``keep_fraction`` 1 gives the minimum score, 0 gives a
    threshold above the maximum (keeps nothing).
    """
    if not 0.0 <= keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be within [0, 1], got {keep_fraction}")
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("no scores to calibrate on")
    k = int(round(keep_fraction * s.size))
    if k <= 0:
        return float(np.nextafter(s[0], np.inf))
    return float(s[min(k, s.size) - 1])


def write_report(
    metrics: dict[str, Any],
    y_true: Sequence[float],
    y_score: Sequence[float],
    out_dir: str | Path,
    prefix: str = "",
    lengths: Sequence[float] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` and the PNG plots of :func:`compute_metrics`'s ``metrics`` to ``out_dir``.

    Plots: ``confusion_matrix``, ``score_distribution`` (by true level), ``calibration`` (reliability)
    and ``roc`` (with the length baseline's curve when ``lengths`` is given). ``metrics`` may also be a
    full :func:`evaluate_scores` report (its ``model`` part is plotted).
    """
    from classifiers import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = metrics.get("model", metrics)
    th = float(m.get("threshold", BINARY_THRESHOLD))
    paths = {"metrics": out / f"{prefix}metrics.json"}
    paths["metrics"].write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    paths["confusion_matrix"] = plots.plot_confusion(
        m["confusion_matrix"],
        out / f"{prefix}confusion_matrix.png",
        f"confusion (macro-F1@{th:g} {m.get('macro_f1_at_3', float('nan')):.2f})",
    )
    paths["score_distribution"] = plots.plot_score_distribution(
        y_true, y_score, out / f"{prefix}score_distribution.png", float(np.ceil(th) - 0.5)
    )
    cal = m.get("calibration") or calibration_table(y_true, y_score, th)
    paths["calibration"] = plots.plot_calibration(cal, out / f"{prefix}calibration.png")
    truth = np.asarray(y_true, dtype=np.float64) >= th
    curves = [("model", truth, y_score)]
    if lengths is not None:
        curves.append(("length baseline", truth, lengths))
    paths["roc"] = plots.plot_roc(curves, out / f"{prefix}roc.png", f"ROC at label >= {th:g}")
    return paths


def evaluate_classifier(
    classifier,
    texts: Sequence[str],
    labels: Sequence[float],
    out_dir: str | Path | None = None,
    reference: Sequence[float | None] | None = None,
    threshold: float = BINARY_THRESHOLD,
) -> dict[str, Any]:
    """Predict ``texts`` with ``classifier`` and build the :func:`evaluate_scores` report.

    With ``out_dir``: writes ``metrics.json`` (the report) and the plots (:func:`write_report`; plus
    ``roc_reference.png`` with the teacher's curve when ``reference`` is given); the report's
    ``plots`` maps each plot to its path.
    """
    from classifiers import plots
    from classifiers.baselines import text_lengths

    texts = list(texts)
    scores = np.asarray(classifier.predict(texts), dtype=np.float64)
    lengths = text_lengths(texts)
    report = evaluate_scores(labels, scores, lengths, reference=reference, threshold=threshold)
    report["classifier_version"] = classifier.version
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = write_report(report["model"], labels, scores, out, lengths=lengths)
        if reference is not None and report["reference"]["n"]:
            r = np.array([np.nan if v is None else float(v) for v in reference], dtype=np.float64)
            have = ~np.isnan(r)
            truth = r[have] >= threshold
            curves = [
                ("teacher labels (ceiling)", truth, np.asarray(labels, dtype=np.float64)[have]),
                ("model", truth, scores[have]),
                ("length baseline", truth, lengths[have]),
            ]
            paths["roc_reference"] = plots.plot_roc(
                curves, out / "roc_reference.png", f"ROC at reference label >= {threshold:g}"
            )
        report["plots"] = {k: str(v) for k, v in paths.items() if k != "metrics"}
        paths["metrics"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
