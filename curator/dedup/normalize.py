"""Text normalization and hashing shared by exact dedup, fuzzy dedup and decontamination.

Everything works on whole Arrow arrays (one batch at a time), not on Python strings:

* :func:`normalize_text` — Unicode NFKC, lowercase, punctuation/symbol runs -> one space, digit runs
  -> ``0`` (so "page 12" and "page 7" normalize alike), whitespace collapsed and trimmed. Nulls stay null.
* :func:`word_hashes` — the normalized words of raw texts, each hashed with xxh64, returned flat with
  per-document offsets. A compiled pass over the batch's bytes (:mod:`curator.dedup._kernels`)
  normalizes and hashes the printable-ASCII tokens itself; only the other tokens go through
  :func:`normalize_text`, once per distinct token. Fuzzy dedup and decontamination build n-grams
  from these.
* :func:`text_hash` — xxh64 of the normalized word sequence as ``uint64`` (the exact-dedup key).
* :func:`ngram_hashes` — word n-gram hashes, one compiled pass over the flat word hashes.
* :func:`warm_up` — compile the kernels (or load them from numba's cache) before workers need them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_PUNCT = r"[\p{P}\p{S}]+"
_DIGITS = r"\p{Nd}+"
_SPACE = r"\s+"

# splitmix64 finalizer constants (the same as curator.dedup._kernels', which combines n-grams).
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

    Texts are split on ASCII whitespace into raw tokens by a compiled loop over the batch's UTF-8
    bytes (:func:`curator.dedup._kernels.scan_tokens`): a token of printable ASCII is normalized and
    its words hashed right there. The other tokens (any non-ASCII or control byte; a few percent of
    web text) go the Arrow way: dictionary-encoded, only their distinct values normalized
    (:func:`normalize_text`, which may split a token such as ``naïve.Next`` or one holding a
    non-ASCII space into several words, or drop it) and hashed. Every word hash is xxh64 of the
    word's UTF-8 bytes. The word sequence equals ``normalize_text(text).split()``.

    Args:
        texts: raw strings (Arrow array or list); nulls count as empty.
        seed: xxh64 seed for word hashes.

    Returns:
        ``(hashes, offsets)``: flat ``uint64`` word hashes of all documents and ``int64`` offsets of
        length ``n_docs + 1`` (document ``i``'s words are ``hashes[offsets[i]:offsets[i+1]]``).
    """
    from curator.dedup import _kernels as K

    arr = pc.fill_null(_as_array(texts), "")
    data, offsets = _utf8_buffers(arr)
    useed = np.uint64(seed)
    items, is_ref, item_off, t_start, t_end = K.scan_tokens(data, offsets, K.CLASSES, useed)
    if len(t_start):
        buf, offs = K.gather_tokens(data, t_start, t_end)
        tokens = pa.StringArray.from_buffers(len(t_start), pa.py_buffer(offs), pa.py_buffer(buf))
        ref_hashes, ref_offsets = _token_words(tokens, useed)
    else:
        ref_hashes, ref_offsets = np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.int64)
    return K.merge_items(items, is_ref, item_off, ref_hashes, ref_offsets)


def _utf8_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's data bytes (``uint8``) and ``int64`` offsets into them (slices respected)."""
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    buf = bufs[2]
    if buf is not None and buf.size:
        data = np.frombuffer(buf, dtype=np.uint8)
    else:
        data = np.zeros(1, dtype=np.uint8)
        data.flags.writeable = False  # read-only like Arrow's buffers: one compiled kernel variant
    return data, offsets


def _token_words(tokens: pa.Array, seed: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes of each raw token with the full Unicode normalization: ``(flat hashes, int64 offsets)``."""
    from curator.dedup import _kernels as K

    enc = pc.dictionary_encode(tokens)
    vocab_words = pc.utf8_split_whitespace(normalize_text(enc.dictionary, collapse_spaces=False))
    v_counts = pc.list_value_length(vocab_words).to_numpy(zero_copy_only=False).astype(np.int64)
    v_counts[pc.equal(pc.list_element(vocab_words, 0), "").to_numpy(zero_copy_only=False)] = 0
    v_flat = pc.list_flatten(vocab_words)
    v_flat = pc.filter(v_flat, pc.not_equal(v_flat, ""))
    if len(v_flat):
        v_hash = K.hash_words(*_utf8_buffers(v_flat), seed)
    else:
        v_hash = np.zeros(0, dtype=np.uint64)
    v_off = np.zeros(len(v_counts) + 1, dtype=np.int64)
    np.cumsum(v_counts, out=v_off[1:])
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = v_counts[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    src = np.repeat(v_off[idx] - offsets[:-1], counts) + np.arange(int(offsets[-1]), dtype=np.int64)
    return v_hash[src], offsets


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

    The n-gram starting at word ``i`` hashes ``mix(((w[i]*M + w[i+1])*M + ...) + w[i+n-1])``
    (wrapping ``uint64``; ``mix`` is the splitmix64 finalizer), in one compiled pass over the batch
    (:func:`curator.dedup._kernels.ngrams`); n-grams never cross a document boundary.

    Args:
        hashes, offsets: output of :func:`word_hashes`.
        n: words per n-gram.
        short_docs: documents with ``0 < words < n``: ``"whole"`` gives them one n-gram made of all
            their words (fuzzy dedup), ``"skip"`` gives them none (decontamination).
        with_starts: also return ``starts``; ``False`` returns ``None`` in its place.

    Returns:
        ``(ngrams, ngram_offsets, starts)``: flat ``uint64`` n-gram hashes, ``int64`` per-document
        offsets into them, and for each n-gram the index of its first word within its document.
    """
    from curator.dedup import _kernels as K

    if short_docs not in ("whole", "skip"):
        raise ValueError(f"short_docs must be 'whole' or 'skip', not {short_docs!r}")
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    out, out_offsets, starts = K.ngrams(hashes, offsets, int(n), short_docs == "whole")
    return out, out_offsets, starts if with_starts else None


def shingle_hashes(texts, n: int, seed: int = 0, short_docs: str = "whole") -> tuple[np.ndarray, np.ndarray]:
    """Convenience: normalize ``texts`` and return ``(ngram_hashes, offsets)`` of word ``n``-grams."""
    h, off = word_hashes(texts, seed=seed)
    g, goff, _ = ngram_hashes(h, off, n, short_docs=short_docs)
    return g, goff


def warm_up() -> float:
    """Compile (first run) or load from numba's on-disk cache every hashing kernel; returns seconds taken.

    A build calls this in the driver before starting Ray tasks, so that the workers, which call the
    kernels at once, find them cached instead of each compiling them (~8 s of CPU each).
    """
    import time

    from curator.dedup import _kernels as K

    t0 = time.perf_counter()
    texts = pa.array(["Warm up: the kernels, 42 times!", "naïve café", "", "x"], pa.string())
    words, w_off = word_hashes(texts)
    grams, g_off, _ = ngram_hashes(words, w_off, 2)  # one compiled variant serves both short_docs modes
    flat, off = K.sorted_sets(grams, g_off)
    K.pair_intersections(flat, off, np.array([0], np.int64), np.array([1], np.int64))
    return time.perf_counter() - t0
