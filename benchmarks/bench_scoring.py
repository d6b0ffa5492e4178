"""Benchmark: the Ray scoring stage vs a bare 2-process fastText loop on the same documents.

Pipeline: ``ray.data.read_parquet`` -> :class:`classifiers.scoring.ScoreStage` (actor pool
via ``curator.stage.apply_stage``, or fused tasks with ``--mode tasks``) ->
``write_parquet``. Baseline: 2 ``multiprocessing`` workers, each reads its half of the
same Parquet files, calls the bare ``fasttext`` ``predict(list, k=-1)`` (after the newline
replacement fastText requires) and writes the same output columns to Parquet with the same
compression (best of two runs): ``ratio`` = baseline seconds / pipeline seconds. ``ratio_vs_predict_only``
compares with a baseline that does not write (the pre-2026-11-22 figure). Ray start-up is
reported apart (``ray_init_s``).
Documents: ~2 KB English, sentences of ``../shared/data/web/gensim_test_corpora.jsonl``
shuffled into documents (seeded). Prints one JSON line.

    .venv/bin/python benchmarks/bench_scoring.py --docs 20000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web" / "gensim_test_corpora.jsonl"


def make_docs(n: int, seed: int = 0, target_chars: int = 2000) -> list[str]:
    sentences: list[str] = []
    with open(SHARED, encoding="utf-8") as f:
        for line in f:
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if 20 < len(s) < 400]
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        parts, size = [], 0
        while size < target_chars:
            s = rng.choice(sentences)
            parts.append(s)
            size += len(s) + 1
            if rng.random() < 0.15:
                parts.append("\n")
        docs.append(" ".join(parts))
    return docs


def write_input(docs: list[str], directory: Path, files: int, row_group: int, compression: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    per = -(-len(docs) // files)
    paths = []
    for i in range(files):
        chunk = docs[i * per : (i + 1) * per]
        if not chunk:
            break
        t = pa.table({"id": [f"d{i}-{j}" for j in range(len(chunk))], "text": chunk})
        p = directory / f"part-{i:04d}.parquet"
        pq.write_table(t, p, row_group_size=row_group, compression=compression)
        paths.append(p)
    return paths


def _bare_worker(args: tuple[list[str], str, int, str | None, str]) -> int:
    import fasttext
    import numpy as np

    from curator.schema import CLASSIFIER_VERSION, EDU_INT_SCORE, EDU_SCORE, TEXT

    fasttext.FastText.eprint = lambda *a, **k: None
    paths, model_path, batch, out_dir, compression = args
    model = fasttext.load_model(model_path)
    n = 0
    for p in paths:
        writer = None
        for rb in pq.ParquetFile(p).iter_batches(batch_size=batch):
            texts = [t.replace("\n", " ") for t in rb.column(TEXT).to_pylist()]
            labels, probs = model.predict(texts, k=-1)
            n += len(texts)
            if out_dir is None:
                continue
            # the same output as the pipeline: expected level, its rounding, the model version
            values = np.array([[float(lab[9:]) for lab in row] for row in labels], dtype=np.float32)
            pr = np.asarray(probs, dtype=np.float32)
            scores = (values * pr).sum(axis=1) / pr.sum(axis=1)
            t = pa.Table.from_batches([rb]).append_column(EDU_SCORE, pa.array(scores.astype(np.float32)))
            t = t.append_column(EDU_INT_SCORE, pa.array(np.clip(np.rint(scores), 0, 5).astype(np.int8)))
            t = t.append_column(CLASSIFIER_VERSION, pa.repeat(pa.scalar("bare", pa.string()), t.num_rows))
            if writer is None:
                writer = pq.ParquetWriter(f"{out_dir}/{Path(p).name}", t.schema, compression=compression)
            writer.write_table(t)
        if writer is not None:
            writer.close()
    return n


def bare(
    paths: list[Path],
    model_path: str,
    procs: int,
    batch: int,
    out_dir: Path | None = None,
    compression: str = "snappy",
) -> tuple[float, int]:
    """Read, score and (with ``out_dir``) write the same Parquet output, in ``procs`` processes."""
    groups = [[str(p) for p in paths[i::procs]] for i in range(procs)]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    with ctx.Pool(procs) as pool:
        n = sum(
            pool.map(
                _bare_worker,
                [(g, model_path, batch, None if out_dir is None else str(out_dir), compression) for g in groups],
            )
        )
    return time.perf_counter() - t0, n


_STAGES: dict = {}


def _score_file(src: str, dst: str, compression: str) -> int:
    from classifiers.scoring import ScoreStage

    stage = _STAGES.get("default")
    if stage is None:
        stage = _STAGES["default"] = ScoreStage(model="default")
    table = stage(pq.read_table(src))
    pq.write_table(table, dst, compression=compression)
    return table.num_rows


def pipeline(
    in_dir: Path, out_dir: Path, mode: str, actors: int, num_cpus: float, batch: int, compression: str
) -> tuple[float, int]:
    import ray

    from classifiers.scoring import ScoreStage
    from curator.stage import Resources, apply_stage

    t0 = time.perf_counter()
    if mode == "files":  # one plain Ray task per file: read -> score -> write, model cached per worker process
        out_dir.mkdir(parents=True, exist_ok=True)
        score = ray.remote(num_cpus=1)(_score_file)
        ray.get([score.remote(str(p), str(out_dir / p.name), compression) for p in sorted(in_dir.glob("*.parquet"))])
        dt = time.perf_counter() - t0
        n = sum(pq.ParquetFile(p).metadata.num_rows for p in out_dir.glob("*.parquet"))
        return dt, n
    ds = ray.data.read_parquet(str(in_dir))
    res = Resources(num_cpus=num_cpus, actors=actors if mode == "actors" else None, batch_size=batch)
    ds = apply_stage(ds, ScoreStage, res, model="default")
    ds.write_parquet(str(out_dir), compression=compression)
    dt = time.perf_counter() - t0
    n = sum(pq.ParquetFile(p).metadata.num_rows for p in out_dir.glob("*.parquet"))
    return dt, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument(
        "--mode",
        choices=["actors", "tasks", "files"],
        default="actors",
        help="Ray Data actor pool, Ray Data fused tasks, or one plain Ray task per file (read, score, write)",
    )
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--num-cpus", type=float, default=0.5, help="CPUs per actor/task")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--files", type=int, default=0, help="input Parquet files (default: one per 10k docs, at least 4)")
    ap.add_argument("--row-group", type=int, default=4096)
    ap.add_argument("--in-compression", default="snappy")
    ap.add_argument("--out-compression", default="snappy")
    ap.add_argument("--procs", type=int, default=2, help="baseline processes")
    args = ap.parse_args(argv)

    from classifiers import default_model_dir, load_classifier

    model_path = str(default_model_dir() / load_classifier("default").card.artifact)
    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    try:
        t = time.perf_counter()
        docs = make_docs(args.docs)
        files = args.files or max(4, args.docs // 10_000)
        paths = write_input(docs, work / "in", files, args.row_group, args.in_compression)
        mean_chars = sum(map(len, docs)) / len(docs)
        del docs
        gen_s = time.perf_counter() - t

        os.sync()  # the input's dirty pages must not be flushed during a timed run
        predict_only_s, _ = bare(paths, model_path, args.procs, args.batch_size)
        bare_s, n_bare = min(
            bare(paths, model_path, args.procs, args.batch_size, work / f"bare-out-{i}", args.out_compression)
            for i in range(2)
        )
        shutil.rmtree(work / "bare-out-0", ignore_errors=True)
        shutil.rmtree(work / "bare-out-1", ignore_errors=True)
        os.sync()

        import ray

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
        ray_init_s = time.perf_counter() - t
        pipe_s, n_pipe = pipeline(
            work / "in", work / "out", args.mode, args.actors, args.num_cpus, args.batch_size, args.out_compression
        )
        ray.shutdown()
        if n_pipe != args.docs or n_bare != args.docs:
            raise SystemExit(f"row count mismatch: pipeline {n_pipe}, bare {n_bare}, expected {args.docs}")
        result = {
            "bench": "scoring",
            "docs": args.docs,
            "mean_doc_chars": round(mean_chars),
            "mode": args.mode,
            "actors": args.actors,
            "num_cpus": args.num_cpus,
            "batch_size": args.batch_size,
            "input_files": len(paths),
            "pipeline_s": round(pipe_s, 2),
            "pipeline_docs_s": round(args.docs / pipe_s),
            "bare_s": round(bare_s, 2),
            "bare_docs_s": round(args.docs / bare_s),
            "bare_predict_only_s": round(predict_only_s, 2),
            "ratio_vs_predict_only": round(predict_only_s / pipe_s, 3),
            "ratio": round(bare_s / pipe_s, 3),
            "ray_init_s": round(ray_init_s, 2),
            "datagen_s": round(gen_s, 1),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
