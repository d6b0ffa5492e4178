"""Reading a finished build's output directory: manifest, kept and dropped documents, samples, search.

Shared by the build report (:mod:`pipelines.report`), ``curator inspect`` and the inspection
notebook, so all three show the same numbers. Everything is plain ``pyarrow``; tables are small
column projections read straight from ``OUT/phase1``, ``OUT/phase2``, ``OUT/rejected/<stage>``,
``OUT/quarantine`` and ``OUT/_work/annotate`` (every ingested document, with its heuristic flags
and score, kept or not).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.exceptions import OutputError
from curator.writers import parquet_files

# Columns read for overviews (text is read only where samples are shown).
OVERVIEW_COLUMNS = [S.ID, S.N_CHARS, S.N_WORDS, S.EDU_SCORE, S.EDU_INT_SCORE]
SAMPLE_COLUMNS = [S.ID, S.URL, S.TEXT, S.N_WORDS, S.EDU_SCORE, S.EDU_INT_SCORE]
DROP_COLUMNS = [S.DROP_STAGE, S.DROP_REASON, S.KEPT_ID]
# Builds made before steps had one name wrote these ``drop_stage`` / ``rejected/`` names; ``dropped_by`` accepts
# either spelling and finds the rows of old and new builds alike.
_FORMER_NAMES = {"heuristics": "heuristic_filter", "threshold": "thresholds", "language": "language_filter"}


def load_manifest(out: str | Path) -> dict:
    """The build's ``manifest.json``.

    Raises:
        OutputError: ``out`` holds no finished build.
    """
    path = Path(out) / "manifest.json"
    if not path.exists():
        raise OutputError(
            f"{out} holds no finished build (no manifest.json): run `curator build --out {out}` first, or resume it"
        )
    return json.loads(path.read_text())


def read_dir(
    directory: str | Path,
    columns: list[str] | None = None,
    schema: pa.Schema = S.DOC_SCHEMA,
    pattern: str | None = None,
) -> pa.Table:
    """All Parquet files under ``directory`` (optionally only names matching ``pattern``), as one table.

    Missing directories give an empty table with the requested columns of ``schema``.
    """
    files = [f for f in parquet_files(directory) if pattern is None or f.match(pattern)]
    return read_files(files, columns, schema)


FILE, ROW = "_file", "_row"  # read_files(locate_from=...): a row's file (index into a list of files), its row


def read_files(
    files: list[Path],
    columns: list[str] | None = None,
    schema: pa.Schema = S.DOC_SCHEMA,
    locate_from: int | None = None,
) -> pa.Table:
    """``columns`` of ``files`` (conformed to ``schema``) as one table; with ``locate_from``, also each row's
    file index (``locate_from`` + its position in ``files``) and row number, as ``_file`` and ``_row``."""
    wanted = pa.schema([schema.field(c) for c in (columns or schema.names) if c in schema.names])
    tables = []
    for i, f in enumerate(files):
        have = pq.read_schema(f).names
        t = S.conform(pq.read_table(f, columns=[c for c in wanted.names if c in have]), wanted)
        if locate_from is not None:
            t = t.append_column(FILE, pa.repeat(pa.scalar(locate_from + i, pa.int32()), t.num_rows))
            t = t.append_column(ROW, pa.array(np.arange(t.num_rows, dtype=np.int64)))
        tables.append(t)
    if tables:
        return pa.concat_tables(tables)
    if locate_from is None:
        return wanted.empty_table()
    return wanted.append(pa.field(FILE, pa.int32())).append(pa.field(ROW, pa.int64())).empty_table()


def kept_files(out: str | Path) -> list[Path]:
    """The phase-1 corpus's Parquet files, in order (what :func:`kept` reads)."""
    return parquet_files(Path(out) / "phase1")


def kept(out: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Documents in the phase-1 corpus (web documents that passed every stage)."""
    return read_files(kept_files(out), columns)


def rejected_stages(out: str | Path) -> list[str]:
    """Stages that wrote dropped documents, in directory order."""
    d = Path(out) / "rejected"
    return (
        sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) if d.exists() else []
    )


def dropped_files(out: str | Path, stage: str | None = None) -> list[Path]:
    """The Parquet files of ``rejected/<stage>/`` (default: every stage, in directory order)."""
    stages = [stage] if stage else rejected_stages(out)
    return [f for s in stages for f in parquet_files(Path(out) / "rejected" / s)]


def dropped(out: str | Path, columns: list[str] | None = None, stage: str | None = None) -> pa.Table:
    """Documents dropped by ``stage`` (default: every stage), with ``drop_stage``/``drop_reason``/``kept_id``."""
    cols = list(dict.fromkeys((columns or S.DOC_SCHEMA.names) + DROP_COLUMNS))
    return read_files(dropped_files(out, stage), cols, S.REJECTED_SCHEMA)


def annotated(out: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Every ingested document with its heuristic flags and score (``OUT/_work/annotate``)."""
    work = Path(out) / "_work"
    return read_dir(work / "annotate" if (work / "annotate").exists() else work / "annotated", columns)


def synthetic(out: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Synthetic phase-2 rows (``phase2/synthetic-*.parquet``); empty when synthesis was off."""
    return read_dir(Path(out) / "phase2", columns, pattern="synthetic-*.parquet")


def quarantine(out: str | Path) -> pa.Table:
    """Input that could not become a document, with its reason."""
    return read_dir(Path(out) / "quarantine", None, S.QUARANTINE_SCHEMA)


def funnel(manifest: dict) -> list[tuple[str, int]]:
    """``[(label, documents), ...]`` from input records down to the phase-2 corpus."""
    rows: list[tuple[str, int]] = []
    for st in manifest["stages"]:
        if "in" not in st:
            continue
        if not rows:
            rows.append(("input records" if st.get("unit") == "records" else f"{st['name']} in", int(st["in"])))
        if st["name"] == "annotate":
            continue
        rows.append((st["name"], int(st["out"])))
    outputs = manifest.get("outputs", {})
    for name in ("phase1", "phase2"):
        if name in outputs:
            rows.append((f"{name} corpus", int(outputs[name]["rows"])))
    return rows


def drop_reasons(manifest: dict, quarantine: bool = True) -> list[tuple[str, str, int]]:
    """``[(stage, reason, documents), ...]`` of documents dropped by each stage, most frequent first, then
    (with ``quarantine``) every reason input was quarantined for, as stage ``quarantine``."""
    rows = [
        (st["name"], str(r), int(n))
        for st in manifest["stages"]
        if st["name"] != "ingest"
        for r, n in (st.get("reasons") or {}).items()
    ]
    rows.sort(key=lambda r: -r[2])
    if quarantine:
        rows += [
            ("quarantine", str(r), int(n)) for r, n in (manifest.get("quarantine", {}).get("reasons") or {}).items()
        ]
    return rows


def sample(table: pa.Table, n: int, seed: int = 0) -> pa.Table:
    """``n`` random rows of ``table`` (seeded; all rows if fewer), in random order."""
    if table.num_rows <= n:
        idx = np.random.default_rng(seed).permutation(table.num_rows)
    else:
        idx = np.random.default_rng(seed).choice(table.num_rows, size=n, replace=False)
    return table.take(pa.array(idx, pa.int64()))


def scored_docs(out: str | Path, columns: list[str] | None = None) -> tuple[pa.Table, pa.Table]:
    """``(kept, dropped)`` documents that have a score (dropped: removed after scoring)."""
    cols = columns or SAMPLE_COLUMNS
    k = kept(out, cols)
    d = dropped(out, cols)
    return k, d.filter(pc.is_valid(d.column(S.EDU_SCORE)))


def bucket_samples(out: str | Path, bucket: int, n: int = 5, seed: int = 0) -> pa.Table:
    """Random documents (kept and dropped) whose integer score is ``bucket``, with their drop stage/reason."""
    k, d = scored_docs(out, SAMPLE_COLUMNS)
    k = k.append_column(S.DROP_STAGE, pa.nulls(k.num_rows, pa.string())).append_column(
        S.DROP_REASON, pa.nulls(k.num_rows, pa.string())
    )
    d = d.select(SAMPLE_COLUMNS + [S.DROP_STAGE, S.DROP_REASON])
    both = pa.concat_tables([k, d])
    return sample(both.filter(pc.equal(both.column(S.EDU_INT_SCORE), bucket)), n, seed)


def dropped_by(out: str | Path, rule: str, n: int = 5, seed: int = 0) -> pa.Table:
    """Random documents dropped by ``rule``: a drop reason (``too_few_words``) or a step name (``fuzzy_dedup``,
    ``heuristic_filter``, ``language_filter``, ``thresholds``; the former ``heuristics``, ``language`` and
    ``threshold`` work too)."""
    d = dropped(out, SAMPLE_COLUMNS)
    names = {rule, _FORMER_NAMES.get(rule, rule)} | {old for old, new in _FORMER_NAMES.items() if new == rule}
    stage_hit = pc.is_in(d.column(S.DROP_STAGE), pa.array(sorted(names), pa.string()))
    hit = pc.or_(pc.equal(d.column(S.DROP_REASON), rule), stage_hit)
    return sample(d.filter(pc.fill_null(hit, False)), n, seed)


def search(out: str | Path, text: str, n: int = 10) -> pa.Table:
    """Documents (kept and dropped) containing ``text`` (case-insensitive), dropped ones with their reason."""
    k = kept(out, SAMPLE_COLUMNS)
    k = k.append_column(S.DROP_STAGE, pa.nulls(k.num_rows, pa.string())).append_column(
        S.DROP_REASON, pa.nulls(k.num_rows, pa.string())
    )
    d = dropped(out, SAMPLE_COLUMNS).select(SAMPLE_COLUMNS + [S.DROP_STAGE, S.DROP_REASON])
    both = pa.concat_tables([k, d])
    hits = both.filter(pc.match_substring(both.column(S.TEXT), text, ignore_case=True))
    return hits.slice(0, n)


def _by_id(out: str | Path, ids: list[str], columns: list[str]) -> dict[str, dict]:
    """Rows of every ingested document with one of ``ids`` (annotated, else kept + dropped)."""
    cols = list(dict.fromkeys([S.ID] + columns))
    pool = annotated(out, cols)
    if pool.num_rows == 0:
        pool = pa.concat_tables([kept(out, cols), dropped(out, cols).select(cols)])
    sel = pool.filter(pc.is_in(pool.column(S.ID), pa.array(list(set(ids)), pa.string())))
    return {r[S.ID]: r for r in sel.to_pylist()}


def dedup_pairs(out: str | Path, stage: str, n: int = 5, seed: int = 0) -> list[dict]:
    """Removed duplicates from ``stage`` next to the document kept in their place.

    Returns ``[{"kept": row, "removed": row}, ...]``; rows have ``id``, ``url``, ``text``, ``edu_score``.
    """
    cols = [S.ID, S.URL, S.TEXT, S.EDU_SCORE]
    removed = sample(dropped(out, cols, stage=stage), n, seed).to_pylist()
    keep = _by_id(out, [r[S.KEPT_ID] for r in removed if r[S.KEPT_ID]], cols)
    return [{"kept": keep.get(r[S.KEPT_ID]), "removed": r} for r in removed]


def benchmark_items(manifest: dict) -> dict[str, str]:
    """``{"benchmark:item_id": text}`` of the build's decontamination benchmarks (empty if none/unreadable)."""
    dc = manifest.get("config", {}).get("decontam", {})
    paths = dc.get("benchmarks") or []
    if not paths:
        return {}
    from curator.decontam.index import read_items

    items: dict[str, str] = {}
    for p in paths:
        try:
            name, ids, texts = read_items(p, dc.get("fields") or ["text"])
        except Exception:  # a moved benchmark file must not break inspection
            continue
        items.update({f"{name}:{i}": t for i, t in zip(ids, texts)})
    return items


def contamination_hits(out: str | Path, manifest: dict | None = None, n: int = 10) -> list[dict]:
    """Documents that matched a benchmark (removed, or tagged in phase 1), with the matching item's text.

    Returns ``[{"id", "url", "text", "contam_match", "benchmark_text"}, ...]`` (empty without decontamination).
    """
    manifest = manifest or load_manifest(out)
    cols = [S.ID, S.URL, S.TEXT, S.CONTAM_MATCH]
    rem = (
        dropped(out, cols, stage="decontam").select(cols)
        if "decontam" in rejected_stages(out)
        else kept(out, cols).slice(0, 0)
    )
    tagged = kept(out, cols)
    both = pa.concat_tables([rem, tagged])
    hits = both.filter(pc.is_valid(both.column(S.CONTAM_MATCH))).slice(0, n).to_pylist()
    items = benchmark_items(manifest) if hits else {}
    for h in hits:
        h["benchmark_text"] = items.get(h[S.CONTAM_MATCH])
    return hits


def synthetic_pairs(out: str | Path, n: int = 5, seed: int = 0) -> list[dict]:
    """Synthetic documents next to their seed document: ``[{"synthetic": row, "seed": row}, ...]``."""
    syn = sample(synthetic(out, [S.ID, S.TEXT, S.SEED_ID, S.TEMPLATE_ID, S.TEACHER_MODEL]), n, seed).to_pylist()
    seeds = _by_id(out, [r[S.SEED_ID] for r in syn if r[S.SEED_ID]], [S.URL, S.TEXT, S.EDU_SCORE])
    return [{"synthetic": r, "seed": seeds.get(r[S.SEED_ID])} for r in syn]


def shorten(text: str | None, width: int = 300, around: str | None = None) -> str:
    """One-line preview of a document; with ``around``, centred on its first (case-insensitive) occurrence."""
    if text is None:
        return ""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = 0
    if around:
        hit = flat.lower().find(around.lower())
        start = max(0, min(hit - width // 3, len(flat) - width)) if hit >= 0 else 0
    head = "…" if start else ""
    body = flat[start : start + width - 1 - len(head)]
    return head + body + ("…" if start + len(body) < len(flat) else "")
