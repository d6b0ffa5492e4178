"""Compiled (numba) loops behind :func:`curator.dedup.normalize.word_hashes`.

Numpy and Arrow have no vectorized string hash, and Arrow's ``dictionary_encode`` of millions of raw
tokens was a third of the signature time (its hash table runs out of cache). These loops walk the
UTF-8 bytes of a batch once instead:

* :func:`xxh64` — XXH64 of a byte range, equal to ``xxhash.xxh64_intdigest`` (tested against it), so
  word hashes keep their values whichever path produced them.
* :func:`scan_tokens` — splits each text on ASCII whitespace; a token made only of printable ASCII is
  normalized on the fly (``A-Z`` -> ``a-z``, every ASCII punctuation/symbol ends a word, digit runs
  -> ``0``: what :func:`~curator.dedup.normalize.normalize_text` does to such bytes) and its words
  are hashed; any other token (non-ASCII or control bytes) is left as a reference for the Arrow path.
* :func:`gather_tokens` — the referenced tokens' bytes, contiguous, for an Arrow string array.
* :func:`hash_words` — XXH64 of every element of a flat binary array.
* :func:`merge_items` — word hashes and the Arrow path's per-token word lists, back in document order.
* :func:`ngrams` — word n-gram hashes per document (see :func:`~curator.dedup.normalize.ngram_hashes`).
* :func:`sorted_sets`, :func:`pair_intersections` — per-document sorted distinct shingles and the size
  of each candidate pair's intersection (exact verification in :mod:`curator.dedup.clusters`).

All release the GIL (``nogil``) and are cached on disk after the first compilation. The XXH64 code
reads 8-byte lanes in machine byte order, which equals XXH64's little-endian order on x86-64 and ARM64.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_P1 = np.uint64(11400714785074694791)
_P2 = np.uint64(14029467366897019727)
_P3 = np.uint64(1609587929392839161)
_P4 = np.uint64(9650029242287828579)
_P5 = np.uint64(2870177450012600261)

# byte classes of scan_tokens
_SPACE, _LOWER, _UPPER, _DIGIT, _PUNCT, _OTHER = 0, 1, 2, 3, 4, 5


def _byte_classes() -> np.ndarray:
    cls = np.full(256, _OTHER, dtype=np.uint8)  # >= 0x80 (UTF-8 multibyte) and control bytes
    for c in b" \t\n\v\f\r":
        cls[c] = _SPACE  # Arrow's ascii_split_whitespace set
    for c in range(0x21, 0x7F):
        ch = chr(c)
        cls[c] = _LOWER if ch.islower() else _UPPER if ch.isupper() else _DIGIT if ch.isdigit() else _PUNCT
    return cls


CLASSES = _byte_classes()


@nb.njit(inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@nb.njit(inline="always")
def _round(acc, lane):
    acc = acc + lane * _P2
    acc = _rotl(acc, 31)
    return acc * _P1


@nb.njit(inline="always")
def _merge(acc, val):
    acc = acc ^ _round(np.uint64(0), val)
    return acc * _P1 + _P4


@nb.njit(inline="always")
def _xxh64_lanes(lanes, raw, n, seed):
    """XXH64 of ``raw[:n]`` where ``lanes`` is the same memory as ``uint64`` (8-byte aligned reads)."""
    p = 0
    if n >= 32:
        v1 = seed + _P1 + _P2
        v2 = seed + _P2
        v3 = seed
        v4 = seed - _P1
        while p + 32 <= n:
            i = p >> 3
            v1 = _round(v1, lanes[i])
            v2 = _round(v2, lanes[i + 1])
            v3 = _round(v3, lanes[i + 2])
            v4 = _round(v4, lanes[i + 3])
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = seed + _P5
    h = h + np.uint64(n)
    while p + 8 <= n:
        h = h ^ _round(np.uint64(0), lanes[p >> 3])
        h = _rotl(h, 27) * _P1 + _P4
        p += 8
    if p + 4 <= n:
        h = h ^ ((lanes[p >> 3] & np.uint64(0xFFFFFFFF)) * _P1)
        h = _rotl(h, 23) * _P2 + _P3
        p += 4
    while p < n:
        h = h ^ (np.uint64(raw[p]) * _P5)
        h = _rotl(h, 11) * _P1
        p += 1
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


@nb.njit(nogil=True, cache=True)
def xxh64(buf, start, end, seed):
    """XXH64 of ``buf[start:end]`` (``uint8`` array) with ``seed`` (``uint64``)."""
    n = end - start
    lanes = np.zeros(n // 8 + 1, dtype=np.uint64)
    raw = lanes.view(np.uint8)
    raw[:n] = buf[start:end]
    return _xxh64_lanes(lanes, raw, n, np.uint64(seed))


@nb.njit(nogil=True, cache=True)
def scan_tokens(data, offsets, classes, seed):
    """Tokenize and hash a string array's bytes in one pass; see the module docstring.

    Args:
        data: the array's UTF-8 bytes (``uint8``); offsets: its ``int64`` offsets (``n + 1``, absolute
            into ``data``); classes: :data:`CLASSES`; seed: XXH64 seed.

    Returns:
        ``(items, is_ref, item_offsets, tok_starts, tok_ends)``: per document (``item_offsets``) a
        sequence of items, each a word hash or (``is_ref``) the index of a token left for the Arrow
        path, whose byte range is ``tok_starts[i]:tok_ends[i]``.
    """
    seed = np.uint64(seed)
    n_docs = len(offsets) - 1
    cap = (offsets[n_docs] - offsets[0]) // 2 + n_docs + 1
    items = np.empty(cap, dtype=np.uint64)
    is_ref = np.zeros(cap, dtype=np.bool_)
    item_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    tok_starts = np.empty(cap, dtype=np.int64)
    tok_ends = np.empty(cap, dtype=np.int64)
    longest = 0
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    lanes = np.zeros(longest // 8 + 2, dtype=np.uint64)
    raw = lanes.view(np.uint8)  # the normalized word being built; read as lanes by the hash
    n_items = 0
    n_refs = 0
    for d in range(n_docs):
        p = offsets[d]
        end = offsets[d + 1]
        while p < end:
            c = classes[data[p]]
            if c == _SPACE:
                p += 1
                continue
            t0 = p
            first = n_items
            w = 0
            prev_digit = False
            simple = True
            while p < end:
                b = data[p]
                c = classes[b]
                if c == _SPACE:
                    break
                p += 1
                if c == _LOWER:
                    raw[w] = b
                    w += 1
                    prev_digit = False
                elif c == _PUNCT:
                    if w > 0:
                        items[n_items] = _xxh64_lanes(lanes, raw, w, seed)
                        n_items += 1
                        w = 0
                    prev_digit = False
                elif c == _UPPER:
                    raw[w] = b + 32
                    w += 1
                    prev_digit = False
                elif c == _DIGIT:
                    if not prev_digit:
                        raw[w] = 48  # "0"
                        w += 1
                    prev_digit = True
                else:  # non-ASCII or control byte: the whole token goes to the Arrow path
                    simple = False
                    while p < end and classes[data[p]] != _SPACE:
                        p += 1
                    break
            if simple:
                if w > 0:
                    items[n_items] = _xxh64_lanes(lanes, raw, w, seed)
                    n_items += 1
            else:
                n_items = first
                items[n_items] = n_refs
                is_ref[n_items] = True
                n_items += 1
                tok_starts[n_refs] = t0
                tok_ends[n_refs] = p
                n_refs += 1
        item_offsets[d + 1] = n_items
    return items[:n_items], is_ref[:n_items], item_offsets, tok_starts[:n_refs], tok_ends[:n_refs]


@nb.njit(nogil=True, cache=True)
def gather_tokens(data, starts, ends):
    """``(bytes, int32 offsets)`` of the byte ranges ``starts[i]:ends[i]`` of ``data``, concatenated."""
    n = len(starts)
    offs = np.zeros(n + 1, dtype=np.int32)
    total = 0
    for i in range(n):
        total += ends[i] - starts[i]
        offs[i + 1] = total
    out = np.empty(max(total, 1), dtype=np.uint8)
    for i in range(n):
        o = offs[i]
        for k in range(ends[i] - starts[i]):
            out[o + k] = data[starts[i] + k]
    return out[:total], offs


@nb.njit(nogil=True, cache=True)
def hash_words(data, offsets, seed):
    """XXH64 of ``data[offsets[i]:offsets[i+1]]`` for every ``i``."""
    seed = np.uint64(seed)
    n = len(offsets) - 1
    longest = 0
    for i in range(n):
        longest = max(longest, offsets[i + 1] - offsets[i])
    lanes = np.zeros(longest // 8 + 1, dtype=np.uint64)
    raw = lanes.view(np.uint8)  # each word is copied here, 8-byte aligned, and read as lanes
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        w = offsets[i + 1] - offsets[i]
        raw[:w] = data[offsets[i] : offsets[i + 1]]
        out[i] = _xxh64_lanes(lanes, raw, w, seed)
    return out


@nb.njit(nogil=True, cache=True)
def merge_items(items, is_ref, item_offsets, ref_hashes, ref_offsets):
    """Word hashes per document: items, with each reference replaced by its token's word hashes.

    ``ref_hashes[ref_offsets[r]:ref_offsets[r+1]]`` are the word hashes of referenced token ``r``.
    Returns ``(hashes, offsets[n_docs + 1])``.
    """
    n_docs = len(item_offsets) - 1
    total = 0
    for i in range(len(items)):
        if is_ref[i]:
            r = items[i]
            total += ref_offsets[r + 1] - ref_offsets[r]
        else:
            total += 1
    out = np.empty(total, dtype=np.uint64)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    k = 0
    for d in range(n_docs):
        for i in range(item_offsets[d], item_offsets[d + 1]):
            if is_ref[i]:
                r = np.int64(items[i])
                for j in range(ref_offsets[r], ref_offsets[r + 1]):
                    out[k] = ref_hashes[j]
                    k += 1
            else:
                out[k] = items[i]
                k += 1
        offsets[d + 1] = k
    return out, offsets


@nb.njit(nogil=True, cache=True)
def sorted_sets(values, offsets):
    """Each row's distinct values, sorted: ``(flat, offsets)`` (rows are ``values[offsets[i]:offsets[i+1]]``)."""
    n = len(offsets) - 1
    out = np.empty(len(values), dtype=values.dtype)
    out_off = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for i in range(n):
        row = np.sort(values[offsets[i] : offsets[i + 1]])
        for j in range(len(row)):
            if j == 0 or row[j] != row[j - 1]:
                out[k] = row[j]
                k += 1
        out_off[i + 1] = k
    return out[:k], out_off


@nb.njit(nogil=True, cache=True)
def pair_intersections(flat, offsets, ia, ib):
    """``|A ∩ B|`` for the rows ``ia[k]``, ``ib[k]`` of :func:`sorted_sets` output (a sorted merge per pair)."""
    out = np.zeros(len(ia), dtype=np.int64)
    for k in range(len(ia)):
        p, pe = offsets[ia[k]], offsets[ia[k] + 1]
        q, qe = offsets[ib[k]], offsets[ib[k] + 1]
        c = 0
        while p < pe and q < qe:
            x, y = flat[p], flat[q]
            if x == y:
                c += 1
                p += 1
                q += 1
            elif x < y:
                p += 1
            else:
                q += 1
        out[k] = c
    return out


_MUL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(inline="always")
def _mix(x):
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


@nb.njit(nogil=True, cache=True)
def ngrams(hashes, offsets, n, whole):
    """Word ``n``-gram hashes per document (see :func:`curator.dedup.normalize.ngram_hashes`).

    Returns ``(grams, gram_offsets, starts)``; ``whole``: documents of ``0 < words < n`` get one gram
    of all their words.
    """
    n_docs = len(offsets) - 1
    total = 0
    for d in range(n_docs):
        c = offsets[d + 1] - offsets[d]
        if c >= n:
            total += c - n + 1
        elif c > 0 and whole:
            total += 1
    out = np.empty(total, dtype=np.uint64)
    starts = np.empty(total, dtype=np.int64)
    out_off = np.zeros(n_docs + 1, dtype=np.int64)
    k = 0
    for d in range(n_docs):
        a = offsets[d]
        c = offsets[d + 1] - a
        if c >= n:
            for i in range(c - n + 1):
                acc = hashes[a + i]
                for j in range(1, n):
                    acc = acc * _MUL + hashes[a + i + j]
                out[k] = _mix(acc)
                starts[k] = i
                k += 1
        elif c > 0 and whole:
            acc = hashes[a]
            for j in range(1, c):
                acc = acc * _MUL + hashes[a + j]
            out[k] = _mix(acc)
            starts[k] = 0
            k += 1
        out_off[d + 1] = k
    return out, out_off, starts
