"""Text normalization and hashing shared by exact dedup, fuzzy dedup and decontamination.

Everything works on whole Arrow arrays (one batch at a time), not on Python strings:

* :func:`normalize_text` — Unicode NFKC, lowercase, punctuation/symbol runs -> one space, digit runs
  -> ``0`` (so "page 12" and "page 7" normalize alike), whitespace collapsed and trimmed. Nulls stay null.
* :func:`word_hashes` — the normalized words of raw texts, each hashed with xxh64 once per distinct
  raw token of the batch (Arrow ``dictionary_encode``; normalization and hashing run on the vocabulary
  only, then numpy expands back), returned flat with per-document offsets. Fuzzy dedup and
  decontamination build n-grams from these.
* :func:`text_hash` — xxh64 of the normalized word sequence as ``uint64`` (the exact-dedup key).
* :func:`ngram_hashes` — word n-gram hashes combined with numpy rolling ops over the flat word hashes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_PUNCT = r"[\p{P}\p{S}]+"
_DIGITS = r"\p{Nd}+"
_SPACE = r"\s+"

# Odd 64-bit constants for combining word hashes into n-gram hashes (splitmix64 finalizer).
_MUL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _as_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.string())
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    return values


def normalize_text(values) -> pa.Array:
    """Normalize a string array (or list of str) for hashing; see the module docstring.

    Args:
        values: ``pa.Array``/``pa.ChunkedArray`` of strings, or a Python list of strings.

    Returns:
        A ``pa.StringArray`` of the same length; nulls stay null.
    """
    arr = _as_array(values)
    arr = pc.utf8_normalize(arr, "NFKC")
    arr = pc.utf8_lower(arr)
    arr = pc.replace_substring_regex(arr, _PUNCT, " ")
    arr = pc.replace_substring_regex(arr, _DIGITS, "0")
    arr = pc.replace_substring_regex(arr, _SPACE, " ")
    return pc.utf8_trim_whitespace(arr)


def normalize_one(text: str) -> str:
    """Normalize a single string (same rules as :func:`normalize_text`)."""
    return normalize_text(pa.array([text], type=pa.string()))[0].as_py() or ""


def text_hash(values, seed: int = 0) -> pa.Array:
    """Exact-dedup key: xxh64 (``uint64``) of each document's normalized word sequence.

    The key is ``xxh64`` over the bytes of the document's word hashes (see :func:`word_hashes`), so two
    texts get the same key iff their normalized texts (:func:`normalize_text`, whitespace collapsed) are
    equal, up to 64-bit collisions. Null and empty texts share the key of the empty word sequence.
    """
    hashes, offsets = word_hashes(values, seed=seed)
    h = xxhash.xxh64_intdigest
    out = np.fromiter(
        (h(hashes[offsets[i] : offsets[i + 1]].tobytes(), seed) for i in range(len(offsets) - 1)),
        dtype=np.uint64,
        count=len(offsets) - 1,
    )
    return pa.array(out, type=pa.uint64())


def word_hashes(texts, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hash every normalized word of raw texts, vectorized over the batch.

    Texts are split on whitespace into raw tokens; the tokens are dictionary-encoded (Arrow), and only
    the distinct tokens of the batch are normalized (:func:`normalize_text`, which may split a token
    such as ``end.Next`` into several words or drop it, e.g. ``--``) and hashed with xxh64. The
    per-token word lists are then expanded back to document order with numpy. The word sequence equals
    ``normalize_text(text).split()``.

    Args:
        texts: raw strings (Arrow array or list); nulls count as empty.
        seed: xxh64 seed for word hashes.

    Returns:
        ``(hashes, offsets)``: flat ``uint64`` word hashes of all documents and ``int64`` offsets of
        length ``n_docs + 1`` (document ``i``'s words are ``hashes[offsets[i]:offsets[i+1]]``).
    """
    arr = pc.fill_null(_as_array(texts), "")
    n_docs = len(arr)
    tokens = pc.utf8_split_whitespace(arr)
    tok_counts = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(tokens)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    enc = pc.dictionary_encode(flat)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    vocab_words = pc.utf8_split_whitespace(normalize_text(enc.dictionary))
    v_counts = pc.list_value_length(vocab_words).to_numpy(zero_copy_only=False).astype(np.int64)
    v_flat = pc.list_flatten(vocab_words)
    v_counts[pc.equal(pc.list_element(vocab_words, 0), "").to_numpy(zero_copy_only=False)] = 0
    v_flat = pc.filter(v_flat, pc.not_equal(v_flat, ""))
    h = xxhash.xxh64_intdigest
    v_hash = np.fromiter((h(w, seed) for w in v_flat.cast(pa.binary()).to_pylist()), dtype=np.uint64, count=len(v_flat))
    v_start = np.zeros(len(v_counts), dtype=np.int64)
    np.cumsum(v_counts[:-1], out=v_start[1:])
    idx = enc.indices.to_numpy(zero_copy_only=False)
    k = v_counts[idx]  # words per token occurrence
    total = int(k.sum())
    local = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    hashes = v_hash[np.repeat(v_start[idx], k) + local]
    # words per document = sum of k over the document's tokens
    tok_off = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(tok_counts, out=tok_off[1:])
    ck = np.zeros(len(k) + 1, dtype=np.int64)
    np.cumsum(k, out=ck[1:])
    offsets = ck[tok_off]
    return hashes, offsets


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def ngram_hashes(hashes: np.ndarray, offsets: np.ndarray, n: int, short_docs: str = "whole") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine flat word hashes into word n-gram hashes, per document.

    The n-gram starting at word ``i`` hashes ``mix(((w[i]*M + w[i+1])*M + ...) + w[i+n-1])``, computed
    for all positions of the batch at once; positions whose n-gram would cross a document boundary are
    dropped.

    Args:
        hashes, offsets: output of :func:`word_hashes`.
        n: words per n-gram.
        short_docs: documents with ``0 < words < n``: ``"whole"`` gives them one n-gram made of all
            their words (fuzzy dedup), ``"skip"`` gives them none (decontamination).

    Returns:
        ``(ngrams, ngram_offsets, starts)``: flat ``uint64`` n-gram hashes, ``int64`` per-document
        offsets into them, and for each n-gram the index of its first word within its document.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    total = len(hashes)
    with np.errstate(over="ignore"):
        if total >= n:
            acc = hashes[: total - n + 1].copy()
            for k in range(1, n):
                acc = acc * _MUL + hashes[k : total - n + 1 + k]
            full = _mix(acc)
        else:
            full = np.zeros(0, dtype=np.uint64)
        per_doc = np.maximum(counts - n + 1, 0)
        short = (counts > 0) & (counts < n)
        if short_docs == "whole":
            per_doc = per_doc + short.astype(np.int64)
        out_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(per_doc, out=out_offsets[1:])
        n_out = int(out_offsets[-1])
        out = np.empty(n_out, dtype=np.uint64)
        starts = np.empty(n_out, dtype=np.int64)
        long_docs = counts >= n
        if long_docs.any():
            # For every doc with >= n words, positions offsets[d] .. offsets[d+1]-n.
            nl = counts[long_docs] - n + 1
            doc_start = offsets[:-1][long_docs]
            dst_start = out_offsets[:-1][long_docs]
            rep_src = np.repeat(doc_start, nl)
            rep_dst = np.repeat(dst_start, nl)
            local = np.arange(int(nl.sum()), dtype=np.int64) - np.repeat(np.cumsum(nl) - nl, nl)
            out[rep_dst + local] = full[rep_src + local]
            starts[rep_dst + local] = local
        if short_docs == "whole" and short.any():
            for d in np.nonzero(short)[0]:
                acc1 = hashes[offsets[d]].copy()
                for k in range(offsets[d] + 1, offsets[d + 1]):
                    acc1 = acc1 * _MUL + hashes[k]
                out[out_offsets[d]] = _mix(np.array([acc1], dtype=np.uint64))[0]
                starts[out_offsets[d]] = 0
    return out, out_offsets, starts


def shingle_hashes(texts, n: int, seed: int = 0, short_docs: str = "whole") -> tuple[np.ndarray, np.ndarray]:
    """Convenience: normalize ``texts`` and return ``(ngram_hashes, offsets)`` of word ``n``-grams."""
    h, off = word_hashes(texts, seed=seed)
    g, goff, _ = ngram_hashes(h, off, n, short_docs=short_docs)
    return g, goff
