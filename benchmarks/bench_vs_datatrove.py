"""Side by side with datatrove: the same filter + dedup pipeline on the same documents, same run.

datatrove is installed into its own virtual environment (never a project dependency), cached in
``~/.cache/edu-curator-bench/datatrove-venv``. Both sides read the same JSONL shards
(``benchmarks/_data.py``: ~2 KB English documents from ../shared/data/web mixed at random, with
planted near-duplicates of known Jaccard) and run:

* datatrove, ``LocalPipelineExecutor(tasks=2, workers=2)``: JsonlReader -> GopherRepetitionFilter ->
  GopherQualityFilter -> FastTextClassifierFilter (our default model's fastText file; it
  annotates ``__label__0..5`` probabilities) -> JsonlWriter -> MinhashDedupSignature;
  MinhashDedupBuckets (one task per band); MinhashDedupCluster; JsonlReader -> MinhashDedupFilter
  -> LambdaFilter (raw expected level >= the raw cut where our calibrated score reaches the phase-1
  threshold, from the model card's calibration) -> ParquetWriter. The same order
  as our build (heuristics, score, dedup, threshold); MinHash with our bands x rows and 5-gram
  shingles. The fastText filter is datatrove's, scoring the text folded as our scorer folds it (the model's
  ``normalize: fold``: ASCII case and punctuation); ``kept`` reports the overlap of the two outputs. (A JsonlWriter
  after the dedup filter keeps its survivors for the dedup outcome.)
* ours: ``curator build CONFIG --out OUT`` (the command a user runs, in a fresh process) with heuristics, the
  default classifier, fuzzy dedup, thresholds; exact dedup,
  decontamination, URL and language filters and rejected outputs off (datatrove's side has none),
  on Ray (``ray.num_cpus`` = --cpus) and, for comparison, with the local executor.

Prints ONE JSON line: both wall times, ``ratio`` = datatrove seconds / ours (Ray), ``ratio_local``,
both sides' documents kept and dedup outcome on the planted near-duplicates (precision/recall of
removed documents), and our per-step seconds.

    .venv/bin/python benchmarks/bench_vs_datatrove.py [--docs 20000] [--cpus 2] [--skip-local]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from classifiers.fasttext_model import FOLD_PUNCTUATION  # noqa: E402
from curator import schema as S  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "classifiers" / "default"
MODEL = (
    DEFAULT_MODEL / json.loads((DEFAULT_MODEL / "model_card.json").read_text())["artifact"]
)  # model.ftz / model.bin
CACHE = Path(os.environ.get("EDU_CURATOR_BENCH_CACHE", Path.home() / ".cache" / "edu-curator-bench"))
VENV = CACHE / "datatrove-venv"
REQUIREMENTS = ["datatrove[processing]", "orjson", "spacy", "pyarrow", "fasttext-numpy2"]

DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, LambdaFilter
from datatrove.pipeline.filters.fasttext_filter import FastTextClassifierFilter
from datatrove.pipeline.dedup import (
    MinhashDedupSignature, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.hashing import HashConfig

a = json.loads(sys.argv[1])
work = a["work"]
cfg = MinhashConfig(
    n_grams=a["ngram"], num_buckets=a["bands"], hashes_per_bucket=a["rows"], hash_config=HashConfig(precision=64)
)

class FoldedFastTextFilter(FastTextClassifierFilter):
    # the model's normalize: fold (ASCII case and punctuation), as our scorer applies it; the text is kept.
    # The table (our FOLD_PUNCTUATION, passed in) is a class attribute: the pipeline is pickled to the workers
    # without this script's globals.
    FOLD = str.maketrans({**{chr(c): chr(c + 32) for c in range(65, 91)}, **{c: " " for c in a["fold_punctuation"]}})

    def filter(self, doc):
        text = doc.text
        doc.text = text.translate(self.FOLD)
        ok = super().filter(doc)
        doc.text = text
        return ok

def edu_score(doc, _threshold=a["threshold"]):  # default arg: pickled with the function
    md = doc.metadata
    probs = {int(k[len("__label__"):]): v for k, v in md.items() if k.startswith("__label__")}
    total = sum(probs.values()) or 1.0
    return sum(k * v for k, v in probs.items()) / total >= _threshold

t0 = time.perf_counter()
times = {}
def run(name, pipeline, tasks, workers):
    t = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=f"{work}/logs/{name}").run()
    times[name] = round(time.perf_counter() - t, 3)

run("filter_signatures", [
    JsonlReader(a["input"], glob_pattern="*.jsonl"),
    GopherRepetitionFilter(),
    GopherQualityFilter(),
    # remove_labels=[]: annotate only (datatrove 0.10 fails on `None + list` when neither is given)
    FoldedFastTextFilter(a["model"], remove_labels=[], save_labels_in_metadata=True, newline_replacement=" "),
    JsonlWriter(f"{work}/filtered"),
    MinhashDedupSignature(output_folder=f"{work}/signatures", config=cfg),
], a["tasks"], a["workers"])
run("buckets", [
    MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=cfg),
], a["bands"], a["workers"])
run("cluster", [
    MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=cfg),
], 1, 1)
run("filter_write", [
    JsonlReader(f"{work}/filtered"),
    MinhashDedupFilter(input_folder=f"{work}/remove_ids"),
    JsonlWriter(f"{work}/deduped"),
    LambdaFilter(edu_score),
    ParquetWriter(f"{work}/output"),
], a["tasks"], a["workers"])
print(json.dumps({"seconds": round(time.perf_counter() - t0, 3), "steps": times}))
"""


def ensure_venv(log) -> Path:
    """The datatrove venv's python, created and installed on first use (cached between runs)."""
    py = VENV / "bin" / "python"
    if (
        py.exists()
        and subprocess.run(
            [str(py), "-c", "import datatrove, spacy, fasttext, orjson"], capture_output=True
        ).returncode
        == 0
    ):
        return py
    log(f"installing datatrove into {VENV} (once)")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return py


def raw_cut(min_score: float) -> float:
    """The raw expected level at which our calibrated ``edu_score`` reaches ``min_score`` (the model card's
    calibration inverted): datatrove's LambdaFilter thresholds the raw expected level of the same model file."""
    from classifiers.calibration import Calibration

    cal = Calibration.model_validate(json.loads((DEFAULT_MODEL / "model_card.json").read_text())["calibration"])
    return cal.raw_at(min_score)


def run_datatrove(
    py: Path, input_dir: Path, work: Path, settings, bands: int, rows: int, threshold: float, tasks: int, workers: int
) -> dict:
    args = {
        "input": str(input_dir),
        "work": str(work),
        "model": str(MODEL),
        "ngram": settings.ngram,
        "bands": bands,
        "rows": rows,
        "threshold": threshold,
        "fold_punctuation": FOLD_PUNCTUATION,
        "tasks": tasks,
        "workers": workers,
    }
    env = dict(os.environ, HF_HUB_OFFLINE="1", DATATROVE_COLORIZE_LOGS="0", DATATROVE_COLORIZE_LOG_FILES="0")
    t0 = time.perf_counter()
    r = subprocess.run(
        [str(py), "-c", DATATROVE_SCRIPT, json.dumps(args)], capture_output=True, text=True, env=env, cwd=work
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"datatrove failed:\n{r.stderr[-4000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall"] = round(wall, 3)
    return out


def _jsonl_ids(directory: Path) -> set[str]:
    import gzip

    ids = set()
    for f in sorted(directory.rglob("*.jsonl*")):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            ids.update(json.loads(line)["id"] for line in fh)
    return ids


def _parquet_ids(directory: Path, column: str = S.ID) -> set[str]:
    return {
        i
        for f in sorted(directory.rglob("*.parquet"))
        for i in pq.read_table(f, columns=[column]).column(column).to_pylist()
    }


def our_config(paths: list[Path], executor: str, cpus: int):
    from curator.settings import load_config

    return load_config(
        None,
        {
            "name": "bench-vs-datatrove",
            "input": {"paths": [str(p) for p in paths]},
            "dedup": {"exact": False},
            "decontam": {"enabled": False},
            "url_filter": {"enabled": False},
            "language": {"enabled": False},
            "output": {"write_rejected": False},
            "ray": {"executor": executor, "num_cpus": cpus},
        },
    )


def run_ours(paths: list[Path], out: Path, executor: str, cpus: int) -> dict:
    """Our build as a user runs it, ``curator build CONFIG --out OUT``, in a fresh process (its own Ray), timed
    from process start like datatrove's."""
    cfg = our_config(paths, executor, cpus)
    cfg_path = out.with_suffix(".yaml")
    cfg_path.write_text(cfg.model_dump_json())  # JSON is YAML
    cli = "from pipelines.cli import main; main()"
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", cli, "build", str(cfg_path), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"),
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"our build ({executor}) failed:\n{r.stderr[-4000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall": round(wall, 3), "steps": {s["name"]: s.get("seconds") for s in manifest["stages"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--cpus", type=int, default=2, help="Ray CPUs for ours; datatrove gets tasks=workers=this.")
    ap.add_argument("--skip-local", action="store_true", help="Do not time our local executor.")
    ap.add_argument("--workdir", default=None, help="Keep the run under this directory (default: a temp dir).")
    args = ap.parse_args()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731

    from curator.dedup import lsh_params
    from curator.settings import BuildConfig

    defaults = BuildConfig()
    fuzzy = defaults.dedup.fuzzy
    bands, rows = lsh_params(fuzzy)
    threshold = raw_cut(defaults.thresholds.phase1_min_score)
    py = ensure_venv(log)
    with tempfile.TemporaryDirectory(prefix="bench-dt-", dir=args.workdir) as tmp:
        tmp = Path(tmp)
        paths, texts, pairs = _data.write_jsonl(tmp / "input", args.docs, shards=max(2, args.cpus * 2))
        input_mb = sum(p.stat().st_size for p in paths) / 2**20

        log("datatrove ...")
        (tmp / "dt").mkdir()
        dt = run_datatrove(py, tmp / "input", tmp / "dt", fuzzy, bands, rows, threshold, args.cpus, args.cpus)
        log(f"datatrove {dt['wall']:.1f}s; ours (ray) ...")
        ours = run_ours(paths, tmp / "ours", "ray", args.cpus)
        log(f"ours (ray) {ours['wall']:.1f}s")
        local = None
        if not args.skip_local:
            local = run_ours(paths, tmp / "ours_local", "local", args.cpus)
            log(f"ours (local) {local['wall']:.1f}s")

        dt_in, dt_dedup, dt_out = (
            _jsonl_ids(tmp / "dt" / "filtered"),
            _jsonl_ids(tmp / "dt" / "deduped"),
            _parquet_ids(tmp / "dt" / "output"),
        )
        o = tmp / "ours"
        # fuzzy dedup's input: the last row step's output (the fused row pass writes only that one)
        our_in, our_dedup = _parquet_ids(o / "_work" / "heuristic_filter"), _parquet_ids(o / "_work" / "fuzzy_dedup")
        our_out = _parquet_ids(o / "phase1")
        result = {
            "bench": "vs_datatrove",
            "docs": args.docs,
            "input_mb": round(input_mb, 1),
            "cpus": args.cpus,
            "datatrove_seconds": dt["wall"],
            "ours_seconds": ours["wall"],
            "ratio": round(dt["wall"] / ours["wall"], 2),
            "ours_local_seconds": local["wall"] if local else None,
            "ratio_local": round(dt["wall"] / local["wall"], 2) if local else None,
            "datatrove_docs_per_s": round(args.docs / dt["wall"], 1),
            "ours_docs_per_s": round(args.docs / ours["wall"], 1),
            "kept": {"datatrove": len(dt_out), "ours": len(our_out), "both": len(dt_out & our_out)},
            "dedup": {
                "datatrove": _data.dedup_outcome(dt_in, dt_dedup, texts, pairs, fuzzy.threshold),
                "ours": _data.dedup_outcome(our_in, our_dedup, texts, pairs, fuzzy.threshold),
            },
            "datatrove_steps": dt["steps"],
            "ours_steps": ours["steps"],
            "ours_local_steps": local["steps"] if local else None,
            "lsh": {"bands": bands, "rows": rows, "ngram": fuzzy.ngram, "threshold": fuzzy.threshold},
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
