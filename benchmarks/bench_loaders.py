"""Trainer-handoff benchmark: token counting and the PyTorch phase loader on real web text.

Documents: ../shared/data/web/dolma_cc_samples.jsonl, repeated (with distinct ids) to ``--docs``,
written as a phase-2 directory (web rows with scores + a synthetic part). A byte-level BPE
tokenizer (``--vocab`` entries) is trained on the same text and saved as a
PreTrainedTokenizerFast directory.

Prints ONE JSON line:
``loader_docs_per_s``: :class:`curator.loaders.PhaseIterableDataset` serving a 0.6/0.4 mixture
(in process, ``id`` + ``text``); ``baseline_docs_per_s``: plain pyarrow ``iter_batches`` ->
Python dicts over the same files (no shuffle, no mixture); ``ratio`` = loader / baseline.
``count_docs_per_s`` (our counter: ``tokenizers`` batch encode), ``hf_call_docs_per_s``
(``PreTrainedTokenizerFast.__call__`` on the same batches), ``tokens_ratio``, ``tokens_match``.

    .venv/bin/python benchmarks/bench_loaders.py [--docs 30000] [--vocab 4000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator import schema as S
from curator.writers import atomic_write_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "web" / "dolma_cc_samples.jsonl"


def _texts() -> list[str]:
    return [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").split("\n") if line.strip()]


def _tokenizer(texts: list[str], vocab: int, d: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab, special_tokens=["[UNK]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(str(d))
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=30000)
    ap.add_argument("--vocab", type=int, default=4000)
    args = ap.parse_args()
    base = _texts()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tok_dir = _tokenizer(base, args.vocab, root / "tok")
        from transformers import AutoTokenizer

        from curator.tokens import load_token_counter

        sample = [base[i % len(base)] for i in range(min(args.docs, 5000))]
        count = load_token_counter(str(tok_dir))
        t0 = time.perf_counter()
        ours = [n for lo in range(0, len(sample), 1024) for n in count(sample[lo : lo + 1024])]
        t_ours = time.perf_counter() - t0
        hf = AutoTokenizer.from_pretrained(str(tok_dir))
        t0 = time.perf_counter()
        theirs = [
            len(x)
            for lo in range(0, len(sample), 1024)
            for x in hf(sample[lo : lo + 1024], add_special_tokens=False)["input_ids"]
        ]
        t_hf = time.perf_counter() - t0

        out = root / "out"
        n_web = int(args.docs * 0.7)
        lengths = {t: n for t, n in zip(sample, ours)}
        for name, n, syn in (("part-00000", n_web, False), ("synthetic-00000", args.docs - n_web, True)):
            texts = [base[i % len(base)] for i in range(n)]
            t = pa.table(
                {
                    S.ID: [f"{name}-{i}" for i in range(n)],
                    S.TEXT: texts,
                    S.SOURCE: ["synthetic" if syn else "web"] * n,
                    S.EDU_SCORE: pa.array([None] * n if syn else rng.uniform(3, 5, n), pa.float32()),
                    S.N_TOKENS: [lengths.get(x) or len(x) // 4 for x in texts],
                }
            )
            atomic_write_table(S.conform(t), out / "phase2" / f"{name}.parquet")
        files = sorted((out / "phase2").glob("*.parquet"))

        t0 = time.perf_counter()
        n_base = 0
        for f in files:
            for b in pq.ParquetFile(f).iter_batches(batch_size=1024, columns=[S.ID, S.TEXT]):
                n_base += len(b.to_pylist())
        t_base = time.perf_counter() - t0

        from curator.loaders import PhaseIterableDataset

        recipe = {
            "web4": {"source": "web", "min_score": 4.0, "weight": 0.6},
            "syn": {"source": "synthetic", "weight": 0.4},
        }
        t0 = time.perf_counter()
        ds = PhaseIterableDataset(out, "phase2", mixture=recipe, seed=0)
        n_ours = sum(1 for _ in ds)
        t_loader = time.perf_counter() - t0

    print(
        json.dumps(
            {
                "bench": "loaders",
                "docs": args.docs,
                "loader_docs_per_s": round(n_ours / t_loader, 1),
                "loader_docs": n_ours,
                "baseline_docs_per_s": round(n_base / t_base, 1),
                "ratio": round((n_ours / t_loader) / (n_base / t_base), 3),
                "count_docs_per_s": round(len(sample) / t_ours, 1),
                "hf_call_docs_per_s": round(len(sample) / t_hf, 1),
                "tokens_ratio": round(t_hf / t_ours, 3),
                "tokens_match": ours == theirs,
                "mean_tokens": round(float(np.mean(ours)), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
