"""MinHash signatures of word n-gram shingles (the first fuzzy-dedup step).

Shingling is vectorized per batch (:func:`curator.dedup.normalize.word_hashes` +
:func:`~curator.dedup.normalize.ngram_hashes`: Arrow tokenizing, xxh64 over the batch vocabulary,
numpy rolling n-gram hashes); the flat shingle hashes go to rensa's
``RMinHash.digest_matrix_from_flat_token_hashes`` in one call per batch. The stage projects a document
batch onto ``(id, edu_score, dedup_doc_len, dedup_n_shingles, minhash_signature)``: the text never
leaves it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curator import schema as S
from curator.dedup import keep
from curator.dedup._columns import DOC_LEN, N_SHINGLES, SIGNATURE
from curator.dedup.normalize import ngram_hashes, word_hashes
from curator.stage import STAGE_CPUS, Resources, Stage


def signature_schema(num_perm: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field(S.ID, pa.string()),
            pa.field(S.EDU_SCORE, pa.float64()),
            pa.field(DOC_LEN, pa.int64()),
            pa.field(N_SHINGLES, pa.int64()),
            pa.field(SIGNATURE, pa.list_(pa.uint32(), num_perm)),
        ]
    )


def minhash_matrix(texts, num_perm: int, ngram: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(signatures uint32[n_docs, num_perm], shingle counts int64[n_docs])`` of raw texts.

    Documents shorter than ``ngram`` words get one shingle of all their words; empty documents get
    none (their signature is all ``2**32-1`` and they never become candidates).
    """
    import rensa

    words, w_off = word_hashes(texts, seed=seed)
    shingles, s_off, _ = ngram_hashes(words, w_off, ngram, short_docs="whole", with_starts=False)
    n = len(s_off) - 1
    if n == 0:
        return np.zeros((0, num_perm), dtype=np.uint32), np.zeros(0, dtype=np.int64)
    m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles, s_off.astype(np.uint64), num_perm, seed)
    sig = np.asarray(m.to_rows(), dtype=np.uint32).reshape(n, num_perm)
    return sig, np.diff(s_off)


def signature_matrix(column) -> np.ndarray:
    """A ``minhash_signature`` column as a ``uint32[n, num_perm]`` matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    width = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.uint32, copy=False).reshape(-1, width)


class MinHashSignatureStage(Stage):
    """Document batch -> signature table (see the module docstring).

    Args:
        num_perm: MinHash permutations.
        ngram: words per shingle.
        seed: seed of word hashing and of the MinHash permutations (same on every worker).
    """

    name = "minhash_signature"
    input_columns = (S.ID, S.TEXT)
    output_columns = (S.ID, S.EDU_SCORE, DOC_LEN, N_SHINGLES, SIGNATURE)
    resources = Resources(num_cpus=STAGE_CPUS, batch_size=4096)

    def __init__(self, num_perm: int = 112, ngram: int = 5, seed: int = 42) -> None:
        super().__init__()
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed

    def process(self, batch: pa.Table) -> pa.Table:
        sig, counts = minhash_matrix(batch.column(S.TEXT), self.num_perm, self.ngram, self.seed)
        meta = keep.keep_columns(batch)
        sig_col = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), self.num_perm)
        return pa.Table.from_arrays(
            [meta.column(S.ID), meta.column(S.EDU_SCORE), meta.column(DOC_LEN), pa.array(counts, pa.int64()), sig_col],
            schema=signature_schema(self.num_perm),
        )
