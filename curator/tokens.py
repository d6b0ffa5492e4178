"""Token accounting: count each document's tokens with a Hugging Face tokenizer, and sum them per phase.

:class:`TokenCountStage` adds ``n_tokens`` to a batch with a fast (Rust) tokenizer loaded once per
actor and batch-encoded. A tokenizer *directory* holding ``tokenizer.json`` is loaded with the
``tokenizers`` library alone (no ``transformers`` import, ~10 s saved per actor); anything else (a hub
name, a directory with only slow-tokenizer files) goes through ``transformers.AutoTokenizer``.
Counts are content tokens unless ``add_special_tokens`` is set (then they match
``tokenizer(text)["input_ids"]``, BOS/EOS included).

:func:`token_summary` reads a finished build's ``OUT/phase1`` and ``OUT/phase2`` and sums tokens
per phase, per source (web / synthetic) and per score bucket; with a mixture it adds, per phase,
what the recipe achieves against what it asks (:func:`curator.mixtures.mixture_report`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.exceptions import ConfigError
from curator.settings import MixtureSettings, TokenizerSettings
from curator.stage import STAGE_CPUS, Resources, Stage
from curator.writers import parquet_files

Counter_ = Callable[[Sequence[str]], list[int]]


@lru_cache(maxsize=4)
def load_token_counter(tokenizer: str, add_special_tokens: bool = False) -> Counter_:
    """A function ``texts -> token counts`` for a Hugging Face tokenizer directory or hub name (cached per process).

    Raises:
        ConfigError: the tokenizer cannot be loaded (the message says what was tried).
    """
    path = Path(tokenizer).expanduser()
    try:
        if not add_special_tokens and (path / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            backend = Tokenizer.from_file(str(path / "tokenizer.json"))
            backend.no_truncation()
            backend.no_padding()

            def count(texts: Sequence[str]) -> list[int]:
                return [len(e.ids) for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]

            return count
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                f"tokenizer {tokenizer!r} needs `transformers` (a hub name, a directory without tokenizer.json, or "
                "add_special_tokens): install edu-curator[train], or point `tokens.tokenizer` at a directory "
                "holding tokenizer.json"
            ) from exc
        tok = AutoTokenizer.from_pretrained(str(path) if path.exists() else tokenizer, use_fast=True)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes advice
        raise ConfigError(
            f"cannot load tokenizer {tokenizer!r} ({type(exc).__name__}: {exc}). Set `tokens.tokenizer` to a "
            "directory holding tokenizer.json (e.g. saved with "
            "`AutoTokenizer.from_pretrained(name).save_pretrained(dir)`) or a hub name in the local cache "
            "(HF_HUB_OFFLINE=1 reads only the cache)."
        ) from exc
    if getattr(tok, "backend_tokenizer", None) is not None and not add_special_tokens:
        backend = tok.backend_tokenizer
        backend.no_truncation()
        backend.no_padding()

        def count_fast(texts: Sequence[str]) -> list[int]:
            return [len(e.ids) for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]

        return count_fast

    def count_full(texts: Sequence[str]) -> list[int]:
        enc = tok(
            list(texts),
            add_special_tokens=add_special_tokens,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [len(ids) for ids in enc["input_ids"]]

    return count_full


class TokenCountStage(Stage):
    """Adds ``n_tokens`` (the configured tokenizer's token count of ``text``).

    Args:
        settings: a :class:`~curator.settings.TokenizerSettings` as a dict (``tokenizer`` must be set).
    """

    name = "tokens"
    input_columns = (S.TEXT,)
    output_columns = (S.N_TOKENS,)
    resources = Resources(num_cpus=STAGE_CPUS, actors=1, batch_size=1024)

    def __init__(self, settings: dict | None = None, **kwargs) -> None:
        super().__init__()
        self.settings = TokenizerSettings.model_validate(settings or kwargs)
        if not self.settings.tokenizer:
            raise ConfigError("TokenCountStage needs `tokens.tokenizer` (a tokenizer directory or hub name)")
        self._count: Counter_ | None = None

    def setup(self) -> None:
        self._count = load_token_counter(self.settings.tokenizer, self.settings.add_special_tokens)

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(S.TEXT).to_pylist()
        counts: list[int | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t is not None]
        step = self.settings.batch_size
        for lo in range(0, len(todo), step):
            idx = todo[lo : lo + step]
            for i, n in zip(idx, self._count([texts[i] for i in idx])):
                counts[i] = n
        arr = pa.array(counts, type=pa.int64())
        if S.N_TOKENS in batch.column_names:
            return batch.set_column(batch.schema.get_field_index(S.N_TOKENS), S.N_TOKENS, arr)
        return batch.append_column(S.N_TOKENS, arr)


def _bucket_sums(table: pa.Table, key: str) -> dict:
    if not table.num_rows:
        return {}
    g = table.group_by(key).aggregate([(S.N_TOKENS, "sum"), (S.N_TOKENS, "count"), ([], "count_all")])
    out = {}
    for row in g.to_pylist():
        k = "none" if row[key] is None else str(row[key])
        out[k] = {
            "docs": row["count_all"],
            "tokens": int(row[f"{S.N_TOKENS}_sum"] or 0),
            "docs_counted": row[f"{S.N_TOKENS}_count"],
        }
    return dict(sorted(out.items()))


def phase_token_counts(directory: str | Path) -> dict:
    """Documents and tokens of one phase directory, in total, per source and per integer score bucket."""
    from curator.mixtures import SYNTHETIC_SOURCE

    cols = [S.SOURCE, S.EDU_INT_SCORE, S.N_TOKENS]
    parts = []
    for f in parquet_files(directory):
        pf = pq.ParquetFile(f)
        have = [c for c in cols if c in pf.schema_arrow.names]
        parts.append(S.conform(pf.read(columns=have), pa.schema([S.DOC_SCHEMA.field(c) for c in cols])))
    t = pa.concat_tables(parts) if parts else pa.schema([S.DOC_SCHEMA.field(c) for c in cols]).empty_table()
    kind = pc.if_else(pc.fill_null(pc.equal(t.column(S.SOURCE), SYNTHETIC_SOURCE), False), "synthetic", "web")
    t = t.append_column("kind", kind)
    tok = t.column(S.N_TOKENS)
    return {
        "docs": t.num_rows,
        "tokens": int(pc.sum(tok).as_py() or 0),
        "docs_counted": t.num_rows - tok.null_count,
        "mean_tokens": round(float(np.mean(tok.drop_null().to_numpy())), 3) if t.num_rows - tok.null_count else 0.0,
        "by_source": _bucket_sums(t, "kind"),
        "by_score": _bucket_sums(t, S.EDU_INT_SCORE),
    }


def token_summary(out: str | Path, mixture: MixtureSettings | None = None, tokenizer: str | None = None) -> dict:
    """Tokens of a build output per phase, per source (web/synthetic) and per score bucket.

    With ``mixture``, each phase that has a recipe also gets the recipe's report (asked vs achieved,
    see :func:`curator.mixtures.mixture_report`). Phases without token counts report ``tokens: 0``
    and ``docs_counted: 0``; their mixtures are then weighed in characters.
    """
    from curator.mixtures import PHASES, mixture_report

    out = Path(out)
    phases = {p: phase_token_counts(out / p) for p in PHASES}
    result: dict = {
        "tokenizer": tokenizer,
        "counted": all(v["docs"] == v["docs_counted"] for v in phases.values()),
        "phases": phases,
    }
    if mixture is not None:
        result["mixtures"] = {
            p: rep for p in PHASES if (out / p).is_dir() and (rep := mixture_report(out, mixture, p))
        }
    return result
