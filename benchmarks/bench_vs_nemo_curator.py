"""Side by side with NeMo Curator 1.4: the same heuristic + fastText pipeline on the same documents, same run.

NeMo Curator is installed with its ``text-cpu`` extra into its own virtual environment (never a project
dependency), cached in ``~/.cache/edu-curator-bench/nemo-curator-venv`` (``EDU_CURATOR_BENCH_CACHE``
moves it; the first run installs it, ~4 min). Both sides read the same JSONL shards
(``benchmarks/_data.py``: ~2 KB English web documents mixed at random, with planted near-duplicates)
and run JSONL -> the Gopher/C4 heuristic rules at the same thresholds -> a fastText quality score with
the same model file -> a score threshold -> Parquet, on a local Ray with ``--cpus`` CPUs:

* NeMo Curator, ``Pipeline`` on a ``RayClient(num_cpus=--cpus)`` cluster with ``RayDataExecutor``
  (``--nemo-executor xenna``: NeMo's default executor, in batch mode: its streaming mode refuses 2 CPUs,
  it wants one CPU per stage; batch mode took 2x Ray Data's time on 2k docs): JsonlReader -> ONE ScoreFilter
  chaining the NeMo filters that implement our rules (:func:`nemo_rules`: WordCount, MeanWordLength,
  SymbolsToWords, Bullets, Ellipsis, Punctuation, WordsWithoutAlphabets, CommonEnglishWords,
  RepeatedLines, RepeatedLinesByChar, RepeatingTopNGrams n=2..4, RepeatingDuplicateNGrams n=5..10, our
  thresholds) -> ScoreFilter(FastTextQualityFilter with ``keep_document`` = score >= threshold instead of
  NeMo's random Pareto draw) -> ParquetWriter.
* ours: ``run_build`` (in a subprocess, as the CLI would) with every heuristic rule, the bench model as
  classifier and phase-1 threshold = the same threshold; exact/fuzzy dedup, decontamination, URL and
  language filters and rejected outputs off (NeMo's side has none). Kept documents: ``OUT/phase1``.

The fastText model is trained for the bench (untimed, seconds) on the base web texts with two labels,
``__label__1`` for the top 30 % by our default classifier's score and ``__label__0`` for the rest:
NeMo's FastTextQualityFilter scores ``p(__label__1)``; our fastText backend scores the expected label
``sum_k k * p(k)``, the same number for labels 0/1 (no calibration in the bench card). Both sides load
the same ``model.bin``.

Agreement: Jaccard of the two kept-id sets; and, untimed on ``--rule-sample`` documents, per rule the
documents on which one side's rule fails and the other's passes (the rules are not identical: NeMo
splits lines only on ``\\n`` and counts its own bullet and end-mark sets, its repetition ratios divide
by all characters, its stop words are not lower-cased, its symbol ratio counts symbol *words*).

Prints ONE JSON line: both wall times (process start to exit, Ray start-up included on both sides),
docs/s, ``ratio`` = NeMo seconds / ours, kept counts, ``kept_jaccard``, per-rule disagreements, NeMo's
in-pipeline seconds, and ``nemo_not_on_cpu``: the NeMo stages that could be part of the same build
(exact, fuzzy and semantic dedup) but do not import without a GPU (cuDF), so no dedup is compared.

    .venv/bin/python benchmarks/bench_vs_nemo_curator.py [--docs 10000] [--cpus 2] [--nemo-executor ray_data]
    .venv/bin/python benchmarks/bench_vs_nemo_curator.py --docs 100000   # the README figure
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

from curator import schema as S  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("EDU_CURATOR_BENCH_CACHE", Path.home() / ".cache" / "edu-curator-bench"))
VENV = CACHE / "nemo-curator-venv"
REQUIREMENTS = ["nemo-curator[text-cpu]==1.4.0"]
HQ_LABEL = "__label__1"
THRESHOLD = 0.5  # p(__label__1) >= this is kept (both sides)
SCORE_FIELD = "quality_score"

# The NeMo side: one process, its own Ray cluster (RayClient) with --cpus CPUs, timed from process start.
NEMO_SCRIPT = r'''
import json, sys, time
t_start = time.perf_counter()
a = json.loads(sys.argv[1])
from nemo_curator.core.client import RayClient
from nemo_curator.pipeline import Pipeline
from nemo_curator.stages.text.filters import ScoreFilter
from nemo_curator.stages.text.filters import heuristic as H
from nemo_curator.stages.text.filters.heuristic import repetition as R
from nemo_curator.stages.text.filters.fasttext import FastTextQualityFilter
from nemo_curator.stages.text.io.reader import JsonlReader
from nemo_curator.stages.text.io.writer import ParquetWriter


class FastTextThreshold(FastTextQualityFilter):
    """NeMo's fastText quality score, kept at score >= threshold (NeMo keeps by a random Pareto draw)."""

    def __init__(self, model_path, label, threshold):
        super().__init__(model_path=model_path, label=label)
        self._threshold = threshold
        self._name = "fasttext_threshold"

    def keep_document(self, score):
        return score >= self._threshold


filters = [getattr(H, cls, None) or getattr(R, cls) for _, cls, kw in a["rules"]]
filters = [f(**kw) for f, (_, _, kw) in zip(filters, a["rules"])]
client = RayClient(num_cpus=a["cpus"], include_dashboard=False, ray_temp_dir=a["ray_tmp"])
client.start()
t_ray = time.perf_counter()
try:
    pipe = Pipeline(name="bench_vs_edu_curator")
    pipe.add_stage(JsonlReader(a["input"], files_per_partition=1, fields=["id", "text", "url"]))
    pipe.add_stage(ScoreFilter(filters, text_field="text"))
    pipe.add_stage(ScoreFilter(FastTextThreshold(a["model"], a["label"], a["threshold"]), text_field="text",
                               score_field=a["score_field"]))
    pipe.add_stage(ParquetWriter(a["output"]))
    if a["executor"] == "ray_data":
        from nemo_curator.backends.ray_data import RayDataExecutor
        executor = RayDataExecutor()
    else:
        from nemo_curator.backends.xenna import XennaExecutor
        # streaming mode refuses 2 CPUs (it wants one per stage: 4.5); batch mode is what its error suggests
        executor = XennaExecutor(config={"execution_mode": "batch"})
    t0 = time.perf_counter()
    pipe.run(executor)
    t_pipe = time.perf_counter() - t0
finally:
    client.stop()
print(json.dumps({"pipeline_seconds": round(t_pipe, 3), "ray_start_seconds": round(t_ray - t_start, 3)}))
'''

# Untimed: each NeMo filter's decision and the fastText score on a sample, for the per-rule agreement.
NEMO_RULES_SCRIPT = r"""
import json, sys
a = json.loads(sys.argv[1])
from nemo_curator.stages.text.filters import heuristic as H
from nemo_curator.stages.text.filters.heuristic import repetition as R
from nemo_curator.stages.text.filters.fasttext import FastTextQualityFilter
docs = [json.loads(line) for line in open(a["sample"], encoding="utf-8")]
failed = {}
for group, cls, kw in a["rules"]:
    f = (getattr(H, cls, None) or getattr(R, cls))(**kw)
    bad = failed.setdefault(group, set())
    for d in docs:
        if not f.keep_document(f.score_document(d["text"])):
            bad.add(d["id"])
ft = FastTextQualityFilter(model_path=a["model"], label=a["label"])
ft.load_model()
scores = {d["id"]: ft.score_document(d["text"]) for d in docs}
print(json.dumps({"failed": {k: sorted(v) for k, v in failed.items()}, "scores": scores}))
"""

# Child process that trains the bench's fastText model (fasttext-numpy2 wants a fresh heap, see
# classifiers/fasttext_model.py); thread=1 and a fixed seed: the same model every run.
TRAIN_SCRIPT = r"""
import json, sys
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
j = json.loads(sys.argv[1])
fasttext.train_supervised(input=j["input"], verbose=0, **j["hp"]).save_model(j["out"])
"""
TRAIN_HP = {
    "lr": 0.2,
    "epoch": 10,
    "dim": 32,
    "wordNgrams": 1,
    "minCount": 2,
    "bucket": 200_000,
    "thread": 1,
    "seed": 0,
}


def nemo_rules(h) -> list[tuple[str, str, dict]]:
    """Our heuristic settings as NeMo filters: ``(our rule, NeMo class, kwargs)``, one tuple per NeMo filter.

    Every rule of ours has a NeMo counterpart; a rule whose threshold is null is left out on both sides.
    ``duplicate_lines`` is two NeMo filters (lines, characters), the repetition rules one per n.
    """
    out: list[tuple[str, str, dict]] = []
    if h.min_words is not None or h.max_words is not None:
        out.append(
            ("word_count", "WordCountFilter", {"min_words": h.min_words or 0, "max_words": h.max_words or 2**62})
        )
    if h.min_mean_word_length is not None or h.max_mean_word_length is not None:
        out.append(
            (
                "mean_word_length",
                "MeanWordLengthFilter",
                {
                    "min_mean_word_length": h.min_mean_word_length or 0,
                    "max_mean_word_length": h.max_mean_word_length if h.max_mean_word_length is not None else 2**62,
                },
            )
        )
    if h.max_symbol_word_ratio is not None:
        out.append(
            ("symbol_word_ratio", "SymbolsToWordsFilter", {"max_symbol_to_word_ratio": h.max_symbol_word_ratio})
        )
    if h.max_bullet_lines_ratio is not None:
        out.append(("bullet_lines", "BulletsFilter", {"max_bullet_lines_ratio": h.max_bullet_lines_ratio}))
    if h.max_ellipsis_lines_ratio is not None:
        out.append(
            (
                "ellipsis_lines",
                "EllipsisFilter",
                {"max_num_lines_ending_with_ellipsis_ratio": h.max_ellipsis_lines_ratio},
            )
        )
    if h.min_punct_lines_ratio is not None:  # ours: share of lines WITH an end mark >= min; NeMo: share WITHOUT <= max
        out.append(
            (
                "punctuation_lines",
                "PunctuationFilter",
                {"max_num_sentences_without_endmark_ratio": 1.0 - h.min_punct_lines_ratio},
            )
        )
    if h.min_alpha_words_ratio is not None:
        out.append(
            ("alpha_words", "WordsWithoutAlphabetsFilter", {"min_words_with_alphabets": h.min_alpha_words_ratio})
        )
    if h.min_stop_words is not None:
        out.append(("stop_words", "CommonEnglishWordsFilter", {"min_num_common_words": h.min_stop_words}))
    # ours: duplicate lines / lines > max fails; NeMo: unique lines / lines >= 1 - max is kept (same for characters)
    if h.max_duplicate_lines_ratio is not None:
        out.append(
            (
                "duplicate_lines",
                "RepeatedLinesFilter",
                {"max_repeated_line_fraction": 1.0 - h.max_duplicate_lines_ratio},
            )
        )
    if h.max_duplicate_line_chars_ratio is not None:
        out.append(
            (
                "duplicate_lines",
                "RepeatedLinesByCharFilter",
                {"max_repeated_lines_char_ratio": 1.0 - h.max_duplicate_line_chars_ratio},
            )
        )
    for n, limit in sorted((h.max_top_ngram_ratio or {}).items()):
        out.append(("top_ngram_repetition", "RepeatingTopNGramsFilter", {"n": n, "max_repeating_ngram_ratio": limit}))
    for n, limit in sorted((h.max_duplicate_ngram_ratio or {}).items()):
        out.append(
            (
                "duplicate_ngram_repetition",
                "RepeatingDuplicateNGramsFilter",
                {"n": n, "max_repeating_duplicate_ngram_ratio": limit},
            )
        )
    return out


# our rule names -> the group name of nemo_rules
OUR_GROUPS = {"too_few_words": "word_count", "too_many_words": "word_count"}


def ensure_venv(log) -> Path:
    """The NeMo Curator venv's python, created and installed on first use (cached between runs)."""
    py = VENV / "bin" / "python"
    check = "import nemo_curator.pipeline, nemo_curator.stages.text.filters.heuristic, fasttext, ray"
    if py.exists() and subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0:
        return py
    log(f"installing NeMo Curator into {VENV} (once, ~4 min)")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return py


def nemo_not_on_cpu(py: Path) -> dict[str, str]:
    """NeMo stages of the same kind of build that do not import on this CPU machine, with the error."""
    code = (
        "import json\n"
        "out = {}\n"
        "for name, mod in [('exact_dedup', 'nemo_curator.stages.deduplication.exact.identification'),\n"
        "                  ('fuzzy_dedup', 'nemo_curator.stages.deduplication.fuzzy.workflow'),\n"
        "                  ('semantic_dedup', 'nemo_curator.stages.text.deduplication.semantic')]:\n"
        "    try:\n"
        "        __import__(mod)\n"
        "    except Exception as exc:\n"
        "        out[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"probe": r.stderr[-300:]}


def train_model(directory: Path) -> Path:
    """The bench's 2-label fastText model (see the module docstring), saved as an edu-curator model directory."""
    import fasttext
    import numpy as np

    from classifiers import load_classifier
    from classifiers.base import ModelCard
    from classifiers.fasttext_model import FastTextEduClassifier, fasttext_lines

    texts = _data.base_texts()
    scores = load_classifier("default").predict(texts)
    cut = float(np.quantile(scores, 0.7))
    labels = (scores >= cut).astype(int)
    directory.mkdir(parents=True, exist_ok=True)
    train = directory / "train.txt"
    rng = np.random.default_rng(0)
    with open(train, "wb") as f:
        for i in rng.permutation(len(texts)):
            f.write(f"__label__{labels[i]} ".encode() + fasttext_lines([texts[i]])[0])
    raw = directory / "raw.bin"
    job = {"input": str(train), "out": str(raw), "hp": TRAIN_HP}
    subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, json.dumps(job)], check=True)
    fasttext.FastText.eprint = lambda *a, **k: None
    card = ModelCard(
        backend="fasttext",
        name="bench-nemo-quality",
        hyperparameters={**TRAIN_HP, "normalize": "none"},
        training_data={
            "n_examples": len(texts),
            "label_counts": np.bincount(labels).tolist(),
            "labels": f"top 30% by the default model (score >= {cut:.3f}) -> 1",
        },
    )
    model_dir = directory / "model"
    FastTextEduClassifier(fasttext.load_model(str(raw)), card).save(model_dir)
    train.unlink()
    raw.unlink()
    return model_dir


def run_nemo(py: Path, input_dir: Path, out: Path, model_file: Path, rules, cpus: int, executor: str) -> dict:
    args = {
        "input": str(input_dir),
        "output": str(out),
        "model": str(model_file),
        "label": HQ_LABEL,
        "threshold": THRESHOLD,
        "score_field": SCORE_FIELD,
        "rules": rules,
        "cpus": cpus,
        "executor": executor,
        "ray_tmp": str(out.parent / "ray"),
    }
    # RayClient starts the cluster with the `ray` command from PATH: the venv's
    # and Ray 2.60's `ray start` turns on token authentication, which NeMo's `ray status` probe then fails
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        HF_HUB_OFFLINE="1",
        RAY_AUTH_MODE="disabled",
        PATH=f"{py.parent}{os.pathsep}{os.environ['PATH']}",
    )
    env.pop("RAY_ADDRESS", None)
    t0 = time.perf_counter()
    r = subprocess.run(
        [str(py), "-c", NEMO_SCRIPT, json.dumps(args)], capture_output=True, text=True, env=env, cwd=out.parent
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"NeMo Curator failed:\n{r.stderr[-4000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["wall"] = round(wall, 3)
    return res


def our_config(paths: list[Path], model_dir: Path, cpus: int):
    from curator.settings import load_config

    return load_config(
        None,
        {
            "name": "bench-vs-nemo-curator",
            "input": {"paths": [str(p) for p in paths]},
            "classifier": {"model": str(model_dir)},
            "dedup": {"exact": False, "fuzzy": {"enabled": False}},
            "decontam": {"enabled": False},
            "url_filter": {"enabled": False},
            "language": {"enabled": False},
            "thresholds": {"phase1_min_score": THRESHOLD, "phase2_min_score": THRESHOLD},
            "output": {"write_rejected": False},
            "ray": {"executor": "ray", "num_cpus": cpus},
        },
    )


def export_ref(ref: str, directory: Path) -> Path:
    """The repository at ``ref`` (``git archive``: no checkout, index or work tree touched) under ``directory``."""
    directory.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


def run_ours(cfg, out: Path, src: Path = ROOT) -> dict:
    """Our build in a fresh subprocess (its own Ray), timed from process start like NeMo's; code from ``src``."""
    cfg_path = out.with_suffix(".json")
    cfg_path.write_text(cfg.model_dump_json())
    code = (
        "import json, sys\n"
        "from curator.settings import BuildConfig\n"
        "from pipelines.build import run_build\n"
        "cfg = BuildConfig.model_validate_json(open(sys.argv[1]).read())\n"
        "m = run_build(cfg, sys.argv[2], progress=False, log=lambda m: None)\n"
        "print(json.dumps({s['name']: s.get('seconds') for s in m['stages']}))\n"
    )
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(src))  # before the editable install
    env.pop("RAY_ADDRESS", None)
    code = f"import curator, sys; assert curator.__file__.startswith({str(src)!r}), curator.__file__\n" + code
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", code, str(cfg_path), str(out)], capture_output=True, text=True, env=env, cwd=src
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"our build failed:\n{r.stderr[-4000:]}")
    return {"wall": round(wall, 3), "steps": json.loads(r.stdout.strip().splitlines()[-1])}


def _parquet_ids(directory: Path) -> set[str]:
    files = sorted(directory.rglob("*.parquet"))
    return {i for f in files for i in pq.read_table(f, columns=[S.ID]).column(S.ID).to_pylist()}


def rule_agreement(py: Path, paths: list[Path], tmp: Path, model_dir: Path, heuristics, rules, n: int) -> dict:
    """Per rule (untimed, first ``n`` documents): documents that fail it on exactly one side."""
    from classifiers import load_classifier
    from curator.heuristics.rules import RULES, batch_text_stats

    docs = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            docs.extend(json.loads(line) for line in fh)
        if len(docs) >= n:
            break
    docs = docs[:n]
    sample = tmp / "rule_sample.jsonl"
    sample.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    artifact = model_dir / json.loads((model_dir / "model_card.json").read_text())["artifact"]
    args = {"sample": str(sample), "rules": rules, "model": str(artifact), "label": HQ_LABEL}
    r = subprocess.run([str(py), "-c", NEMO_RULES_SCRIPT, json.dumps(args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"NeMo rule probe failed:\n{r.stderr[-4000:]}")
    nemo = json.loads(r.stdout.strip().splitlines()[-1])
    ours: dict[str, set[str]] = {}
    for d, st in zip(docs, batch_text_stats([d["text"] for d in docs], heuristics)):
        for name, rule in RULES.items():
            if rule(st, heuristics):
                ours.setdefault(OUR_GROUPS.get(name, name), set()).add(d["id"])
    per_rule = {}
    for group in dict.fromkeys(g for g, _, _ in rules):
        a, b = ours.get(group, set()), set(nemo["failed"].get(group, []))
        per_rule[group] = {"ours_fail": len(a), "nemo_fail": len(b), "only_ours": len(a - b), "only_nemo": len(b - a)}
    our_scores = load_classifier(str(model_dir)).predict([d["text"] for d in docs])
    nemo_scores = [nemo["scores"][d["id"]] for d in docs]
    ft_disagree = sum((float(a) >= THRESHOLD) != (b >= THRESHOLD) for a, b in zip(our_scores, nemo_scores))
    max_diff = max(abs(float(a) - b) for a, b in zip(our_scores, nemo_scores))
    return {
        "docs": len(docs),
        "rules": per_rule,
        "fasttext": {"threshold_disagree": ft_disagree, "max_abs_score_diff": round(max_diff, 6)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10000, help="Documents (the README figure: 100000).")
    ap.add_argument("--cpus", type=int, default=2, help="Ray CPUs on both sides.")
    ap.add_argument(
        "--nemo-executor",
        choices=["ray_data", "xenna"],
        default="ray_data",
        help="NeMo's executor: ray_data or xenna (NeMo's default; batch mode).",
    )
    ap.add_argument("--rule-sample", type=int, default=10000, help="Documents for the per-rule agreement (0: skip).")
    ap.add_argument(
        "--ours-ref",
        default=None,
        help="Run our side from this git commit (git archive) instead of the working tree, e.g. HEAD "
        "while others edit the tree.",
    )
    ap.add_argument("--workdir", default=None, help="Keep the run under this directory (default: a temp dir).")
    args = ap.parse_args()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731

    from curator.settings import BuildConfig

    heuristics = BuildConfig().heuristics
    rules = nemo_rules(heuristics)
    py = ensure_venv(log)
    with tempfile.TemporaryDirectory(prefix="bench-nemo-", dir=args.workdir) as tmp:
        tmp = Path(tmp)
        paths, _, _ = _data.write_jsonl(tmp / "input", args.docs, shards=max(2 * args.cpus, args.docs // 10000))
        input_bytes = sum(p.stat().st_size for p in paths)
        model_dir = train_model(tmp / "model")
        artifact = model_dir / json.loads((model_dir / "model_card.json").read_text())["artifact"]
        cfg = our_config(paths, model_dir, args.cpus)
        assert cfg.heuristics == heuristics

        load_before = os.getloadavg()[0]
        log(f"NeMo Curator ({args.nemo_executor}) ...")
        (tmp / "nemo").mkdir()
        nemo = run_nemo(py, tmp / "input", tmp / "nemo" / "output", artifact, rules, args.cpus, args.nemo_executor)
        log(f"NeMo Curator {nemo['wall']:.1f}s; ours ...")
        src = export_ref(args.ours_ref, tmp / "src") if args.ours_ref else ROOT
        ours = run_ours(cfg, tmp / "ours", src)
        log(f"ours {ours['wall']:.1f}s")

        nemo_kept, our_kept = _parquet_ids(tmp / "nemo" / "output"), _parquet_ids(tmp / "ours" / "phase1")
        agreement = None
        if args.rule_sample:
            log("per-rule agreement ...")
            agreement = rule_agreement(py, paths, tmp, model_dir, heuristics, rules, args.rule_sample)
        result = {
            "bench": "vs_nemo_curator",
            "docs": args.docs,
            "input_mb": round(input_bytes / 2**20, 1),
            "mean_doc_bytes": round(input_bytes / args.docs),
            "cpus": args.cpus,
            "nemo_executor": args.nemo_executor,
            "nemo_seconds": nemo["wall"],
            "ours_seconds": ours["wall"],
            "ratio": round(nemo["wall"] / ours["wall"], 2),
            "nemo_docs_per_s": round(args.docs / nemo["wall"], 1),
            "ours_docs_per_s": round(args.docs / ours["wall"], 1),
            "nemo_pipeline_seconds": nemo["pipeline_seconds"],
            "nemo_ray_start_seconds": nemo["ray_start_seconds"],
            "kept": {"nemo": len(nemo_kept), "ours": len(our_kept), "both": len(nemo_kept & our_kept)},
            "kept_jaccard": round(len(nemo_kept & our_kept) / max(1, len(nemo_kept | our_kept)), 4),
            "rule_agreement": agreement,
            "ours_steps": ours["steps"],
            "ours_ref": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.ours_ref], capture_output=True, text=True
            ).stdout.strip()
            if args.ours_ref
            else "worktree",
            "threshold": THRESHOLD,
            "model_sha256": json.loads((model_dir / "model_card.json").read_text())["sha256"][:16],
            "nemo_rules": [f"{cls}({', '.join(f'{k}={v}' for k, v in kw.items())})" for _, cls, kw in rules],
            "nemo_not_on_cpu": nemo_not_on_cpu(py),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
