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


def normalize_text(values, collapse_spaces: bool = True) -> pa.Array:
    """Normalize a string array (or list of str) for hashing; see the module docstring.

    Args:
        values: ``pa.Array``/``pa.ChunkedArray`` of strings, or a Python list of strings.
        collapse_spaces: replace whitespace runs with one space; ``False`` skips that pass (for callers
            that split on whitespace right after, where it changes nothing).

    Returns:
        A ``pa.StringArray`` of the same length; nulls stay null.
    """
    arr = _as_array(values)
    arr = pc.utf8_normalize(arr, "NFKC")
    arr = pc.utf8_lower(arr)
    arr = pc.replace_substring_regex(arr, _PUNCT, " ")
    arr = pc.replace_substring_regex(arr, _DIGITS, "0")
    if collapse_spaces:
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

    Texts are split on ASCII whitespace into raw tokens; the tokens are dictionary-encoded (Arrow), and
    only the distinct tokens of the batch are normalized (:func:`normalize_text`, which may split a
    token such as ``end.Next`` or one holding a non-ASCII space into several words, or drop it, e.g.
    ``--``) and hashed with xxh64. The per-token word lists are then expanded back to document order
    with one Arrow list ``take``. The word sequence equals ``normalize_text(text).split()``.

    Args:
        texts: raw strings (Arrow array or list); nulls count as empty.
        seed: xxh64 seed for word hashes.

    Returns:
        ``(hashes, offsets)``: flat ``uint64`` word hashes of all documents and ``int64`` offsets of
        length ``n_docs + 1`` (document ``i``'s words are ``hashes[offsets[i]:offsets[i+1]]``).
    """
    arr = pc.fill_null(_as_array(texts), "")
    n_docs = len(arr)
    # ASCII splitting is enough (and ~2x faster than utf8_split_whitespace): a token that still holds
    # a Unicode space is split again after normalization, below, so the words are the same.
    tokens = pc.ascii_split_whitespace(arr)
    flat = pc.list_flatten(tokens)
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(n_docs + 1, dtype=np.int64)
    enc = pc.dictionary_encode(flat)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    vocab_words = pc.utf8_split_whitespace(normalize_text(enc.dictionary, collapse_spaces=False))
    v_counts = pc.list_value_length(vocab_words).to_numpy(zero_copy_only=False).astype(np.int32)
    v_counts[pc.equal(pc.list_element(vocab_words, 0), "").to_numpy(zero_copy_only=False)] = 0
    v_flat = pc.list_flatten(vocab_words)
    v_flat = pc.filter(v_flat, pc.not_equal(v_flat, ""))
    h = xxhash.xxh64_intdigest
    v_hash = np.fromiter((h(w, seed) for w in v_flat.cast(pa.binary()).to_pylist()), dtype=np.uint64, count=len(v_flat))
    v_off = np.zeros(len(v_counts) + 1, dtype=np.int32)
    np.cumsum(v_counts, out=v_off[1:])
    # vocabulary entry -> its word hashes; taking by token index expands to document order
    taken = pa.ListArray.from_arrays(pa.array(v_off), pa.array(v_hash, pa.uint64())).take(enc.indices)
    hashes = pc.list_flatten(taken).to_numpy().copy()  # writable, like the other outputs
    return hashes, _list_offsets(taken)[_list_offsets(tokens)]


def _list_offsets(lists: pa.Array) -> np.ndarray:
    """``int64`` offsets (length ``n + 1``, starting at 0) of a list array's rows into its ``values``."""
    off = lists.offsets.to_numpy().astype(np.int64)
    return off - off[0]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def ngram_hashes(
    hashes: np.ndarray, offsets: np.ndarray, n: int, short_docs: str = "whole", with_starts: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Combine flat word hashes into word n-gram hashes, per document.

    The n-gram starting at word ``i`` hashes ``mix(((w[i]*M + w[i+1])*M + ...) + w[i+n-1])``, computed
    for all positions of the batch at once (in place, ``n - 1`` passes); positions whose n-gram would
    cross a document boundary are masked out (at most ``n - 1`` per document, found per document, not
    per position).

    Args:
        hashes, offsets: output of :func:`word_hashes`.
        n: words per n-gram.
        short_docs: documents with ``0 < words < n``: ``"whole"`` gives them one n-gram made of all
            their words (fuzzy dedup), ``"skip"`` gives them none (decontamination).
        with_starts: also return ``starts``; ``False`` returns ``None`` in its place (saves a pass).

    Returns:
        ``(ngrams, ngram_offsets, starts)``: flat ``uint64`` n-gram hashes, ``int64`` per-document
        offsets into them, and for each n-gram the index of its first word within its document.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    total = len(hashes)
    n_full = max(total - n + 1, 0)
    with np.errstate(over="ignore"):
        full = hashes[:n_full].copy()
        for k in range(1, n):
            full *= _MUL
            full += hashes[k : n_full + k]
        full = _mix_inplace(full)
        # valid starts: every position but the last n-1 of each document (fewer if it is shorter)
        valid = np.ones(n_full, dtype=bool)
        ends, begins = offsets[1:], offsets[:-1]
        for j in range(1, n):
            pos = ends - j
            pos = pos[(pos >= begins) & (pos < n_full)]
            valid[pos] = False
        per_doc = np.maximum(counts - n + 1, 0)
        short = (counts > 0) & (counts < n)
        whole = short_docs == "whole" and bool(short.any())
        if whole:
            per_doc = per_doc + short.astype(np.int64)
        out_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(per_doc, out=out_offsets[1:])
        if whole:
            d = np.nonzero(short)[0]
            first, c = offsets[d], counts[d]
            acc = hashes[first].copy()
            for k in range(1, n - 1):
                sel = c > k
                acc[sel] = acc[sel] * _MUL + hashes[first[sel] + k]
            slot = np.zeros(int(out_offsets[-1]), dtype=bool)
            slot[out_offsets[d]] = True
            out = np.empty(int(out_offsets[-1]), dtype=np.uint64)
            out[slot] = _mix(acc)
            out[~slot] = full[valid]
        else:
            out = full[valid]
    starts = None
    if with_starts:
        starts = np.arange(len(out), dtype=np.int64) - np.repeat(out_offsets[:-1], per_doc)
    return out, out_offsets, starts


def _mix_inplace(x: np.ndarray) -> np.ndarray:
    """:func:`_mix` overwriting ``x`` (no temporaries beyond one)."""
    t = np.empty_like(x)
    np.right_shift(x, np.uint64(30), out=t)
    x ^= t
    x *= _M1
    np.right_shift(x, np.uint64(27), out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, np.uint64(31), out=t)
    x ^= t
    return x


def shingle_hashes(texts, n: int, seed: int = 0, short_docs: str = "whole") -> tuple[np.ndarray, np.ndarray]:
    """Convenience: normalize ``texts`` and return ``(ngram_hashes, offsets)`` of word ``n``-grams."""
    h, off = word_hashes(texts, seed=seed)
    g, goff, _ = ngram_hashes(h, off, n, short_docs=short_docs)
    return g, goff
