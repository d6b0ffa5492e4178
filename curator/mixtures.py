"""Phase mixtures: which documents belong to which component, and the order a loader serves them in.

A phase's recipe (``mixture.phase2`` in the config) names components, each a document filter
(``source``, ``min_score``, ``max_score``) with a weight: its share of the phase's training
*tokens*. Nothing is subsampled at build time; the loaders sample by weight at train time:

* every component is an independent stream of its documents, shuffled with the seed (row groups
  in a seeded order, rows permuted inside each row group) and split into contiguous, balanced
  blocks, one per data-parallel shard (rank x dataloader worker);
* a shard interleaves its component streams by *token deficit*: the next document comes from the
  component furthest below its weight x tokens served so far (deterministic weighted blending, as
  in Megatron-LM's blended datasets, but counted in tokens). Served token shares stay within one
  document of the recipe at every step;
* ``first_exhausted`` ends the epoch when a component runs out (no document repeats);
  ``all_exhausted`` restarts smaller components with a new shuffle (upsampling) until every
  component has been served once.

A document belongs to the first component (in recipe order) whose filter it passes; documents
that pass none are not part of the mixture. Weights are counted in ``n_tokens`` when every
document of the phase has it (a tokenizer was configured), else in characters.

:func:`mixture_report` runs the same schedule over a finished build (one shard) and reports what
the recipe achieves against what it asks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.exceptions import LoaderError
from curator.settings import MixtureComponent, MixtureSettings
from curator.writers import parquet_files

SYNTHETIC_SOURCE = "synthetic"  # value of SOURCE on teacher rows (generators.synthesize writes it)
PHASES = ("phase1", "phase2")
INDEX_COLUMNS = [S.SOURCE, S.EDU_SCORE, S.N_TOKENS, S.N_CHARS]

Recipe = dict[str, MixtureComponent]


def as_recipe(mixture: Mapping | None) -> Recipe | None:
    """Normalize a recipe given as ``{name: MixtureComponent | dict}`` (``None`` stays ``None``)."""
    if mixture is None:
        return None
    recipe = {
        str(k): v if isinstance(v, MixtureComponent) else MixtureComponent.model_validate(v)
        for k, v in mixture.items()
    }
    if not recipe:
        raise LoaderError("a mixture needs at least one component; pass None to read the whole phase")
    return recipe


def recipe_for(settings: MixtureSettings, phase: str) -> Recipe | None:
    """The recipe the config states for ``phase`` (``None``: the whole phase, every document once)."""
    return getattr(settings, phase, None)


def weights_of(recipe: Recipe) -> np.ndarray:
    w = np.array([c.weight for c in recipe.values()], dtype=np.float64)
    return w / w.sum()


def component_ids(table: pa.Table, recipe: Recipe | None) -> np.ndarray:
    """Component index of each row (first matching component in recipe order; -1: none)."""
    n = table.num_rows
    if recipe is None:
        return np.zeros(n, dtype=np.int16)
    out = np.full(n, -1, dtype=np.int16)
    source = table.column(S.SOURCE) if S.SOURCE in table.column_names else pa.nulls(n, pa.string())
    is_syn = pc.fill_null(pc.equal(source, SYNTHETIC_SOURCE), False)
    score = table.column(S.EDU_SCORE) if S.EDU_SCORE in table.column_names else pa.nulls(n, pa.float32())
    for i, comp in enumerate(recipe.values()):
        mask = pa.array(np.ones(n, dtype=bool))
        if comp.source == "synthetic":
            mask = is_syn
        elif comp.source == "web":
            mask = pc.invert(is_syn)
        if comp.min_score is not None:
            mask = pc.and_(mask, pc.fill_null(pc.greater_equal(score, comp.min_score), False))
        if comp.max_score is not None:
            mask = pc.and_(mask, pc.fill_null(pc.less(score, comp.max_score), False))
        m = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool) & (out < 0)
        out[m] = i
    return out


def component_of(source: str | None, score: float | None, recipe: Recipe) -> int:
    """:func:`component_ids` for one document (streaming filters); -1: in no component."""
    syn = source == SYNTHETIC_SOURCE
    for i, comp in enumerate(recipe.values()):
        if (comp.source == "synthetic" and not syn) or (comp.source == "web" and syn):
            continue
        if comp.min_score is not None and (score is None or score < comp.min_score):
            continue
        if comp.max_score is not None and (score is None or score >= comp.max_score):
            continue
        return i
    return -1


def doc_lengths(table: pa.Table) -> tuple[np.ndarray, str]:
    """Per-row weight unit: ``n_tokens`` when every row has it, else characters; and the unit's name."""
    n = table.num_rows
    if S.N_TOKENS in table.column_names and table.column(S.N_TOKENS).null_count == 0:
        return table.column(S.N_TOKENS).to_numpy().astype(np.int64), "tokens"
    chars = table.column(S.N_CHARS) if S.N_CHARS in table.column_names else pa.nulls(n, pa.int64())
    if chars.null_count and S.TEXT in table.column_names:
        chars = pc.if_else(pc.is_null(chars), pc.utf8_length(table.column(S.TEXT)).cast(pa.int64()), chars)
    return np.asarray(pc.fill_null(chars, 0).to_numpy(zero_copy_only=False), dtype=np.int64), "chars"


@dataclass
class PhaseIndex:
    """Where every document of a phase lives, its component and its length (no text).

    Rows are numbered globally in file order; a *unit* is one row group of one file.
    """

    files: list[str]
    unit_file: np.ndarray  # int32, file index of each unit
    unit_rg: np.ndarray  # int32, row group of each unit
    unit_start: np.ndarray  # int64, first global row of each unit (len = units + 1)
    component: np.ndarray  # int16 per row
    length: np.ndarray  # int64 per row (tokens or chars)
    unit: str  # "tokens" or "chars"
    names: list[str]  # component names ("all" without a recipe)
    weights: np.ndarray  # normalized weights

    @property
    def num_rows(self) -> int:
        return int(self.unit_start[-1])

    def rows_of(self, c: int) -> np.ndarray:
        return np.flatnonzero(self.component == c)

    def locate(self, row: int) -> tuple[int, int, int]:
        """``(file index, row group, offset in row group)`` of a global row."""
        u = int(np.searchsorted(self.unit_start, row, side="right") - 1)
        return int(self.unit_file[u]), int(self.unit_rg[u]), int(row - self.unit_start[u])


def phase_dir(out: str | Path, phase: str) -> Path:
    if phase not in PHASES:
        raise LoaderError(f"unknown phase {phase!r}: a build writes {', '.join(PHASES)}")
    d = Path(out) / phase
    if not d.is_dir():
        raise LoaderError(f"{d} does not exist: is {out} a finished build output (run `curator build --out {out}`)?")
    return d


def build_index(out: str | Path, phase: str, recipe: Recipe | None) -> PhaseIndex:
    """Read the small columns of ``OUT/<phase>`` and index every document."""
    files = [str(f) for f in parquet_files(phase_dir(out, phase))]
    unit_file, unit_rg, starts, tables = [], [], [0], []
    for fi, f in enumerate(files):
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        cols = [c for c in INDEX_COLUMNS if c in names]
        t = pf.read(columns=cols)
        if (
            S.N_CHARS in cols
            and t.column(S.N_CHARS).null_count
            and not (S.N_TOKENS in cols and t.column(S.N_TOKENS).null_count == 0)
        ):
            t = pf.read(columns=cols + [S.TEXT])
        tables.append(t)
        for rg in range(pf.metadata.num_row_groups):
            nrows = pf.metadata.row_group(rg).num_rows
            if nrows:
                unit_file.append(fi)
                unit_rg.append(rg)
                starts.append(starts[-1] + nrows)
    table = (
        pa.concat_tables(
            [S.conform(t, pa.schema([S.DOC_SCHEMA.field(c) for c in INDEX_COLUMNS + [S.TEXT]])) for t in tables]
        )
        if tables
        else None
    )
    if table is None or table.num_rows == 0:
        comps_arr, length, unit = np.zeros(0, np.int16), np.zeros(0, np.int64), "tokens"
    else:
        comps_arr = component_ids(table, recipe)
        length, unit = doc_lengths(table)
    return PhaseIndex(
        files=files,
        unit_file=np.asarray(unit_file, dtype=np.int32),
        unit_rg=np.asarray(unit_rg, dtype=np.int32),
        unit_start=np.asarray(starts, dtype=np.int64),
        component=comps_arr,
        length=length,
        unit=unit,
        names=list(recipe) if recipe else ["all"],
        weights=weights_of(recipe) if recipe else np.ones(1),
    )


def shuffled(index: PhaseIndex, rows: np.ndarray, seed: int, key: tuple[int, ...], shuffle: bool = True) -> np.ndarray:
    """``rows`` in a seeded order: row groups in random order, rows permuted inside each."""
    if not shuffle or len(rows) < 2:
        return rows
    rng = np.random.default_rng([seed & 0xFFFFFFFF, *key])
    units = np.searchsorted(index.unit_start, rows, side="right") - 1
    unit_rank = rng.permutation(len(index.unit_start))[units]
    return rows[np.lexsort((rng.random(len(rows)), unit_rank))]


def shard_block(seq: np.ndarray, shard: int, num_shards: int) -> np.ndarray:
    """The ``shard``-th of ``num_shards`` contiguous, balanced (+-1) blocks of ``seq``."""
    n = len(seq)
    return seq[shard * n // num_shards : (shard + 1) * n // num_shards]


def schedule(
    index: PhaseIndex,
    seed: int,
    epoch: int,
    shard: int = 0,
    num_shards: int = 1,
    stopping_strategy: str = "first_exhausted",
    shuffle: bool = True,
) -> Iterator[tuple[int, int]]:
    """Yield ``(component, global row)`` in the order shard ``shard`` serves one epoch.

    Deterministic in (index, seed, epoch, shard, num_shards): a resumed loader replays it
    without reading any text to skip what it already served.
    """
    k = len(index.names)
    w = index.weights
    rows_of = [index.rows_of(c) for c in range(k)]
    restarts = [0] * k

    def block(c: int) -> np.ndarray:
        return shard_block(shuffled(index, rows_of[c], seed, (epoch, c, restarts[c]), shuffle), shard, num_shards)

    blocks = [block(c) for c in range(k)]
    pos = [0] * k
    served = np.zeros(k, dtype=np.float64)
    total = 0.0
    exhausted = [False] * k
    active = np.ones(k, dtype=bool)
    length = index.length
    while True:
        deficit = np.where(active, w * total - served, -np.inf)
        c = int(np.argmax(deficit))
        if not active[c]:
            return
        if pos[c] >= len(blocks[c]):
            exhausted[c] = True
            if stopping_strategy == "first_exhausted" or all(exhausted):
                return
            restarts[c] += 1
            blocks[c], pos[c] = block(c), 0
            if not len(blocks[c]):
                active[c] = False
            continue
        row = int(blocks[c][pos[c]])
        pos[c] += 1
        n = max(1, int(length[row]))
        served[c] += n
        total += n
        yield c, row


def mixture_report(
    out: str | Path, settings: MixtureSettings, phase: str, recipe: Recipe | None = None, seed: int | None = None
) -> dict:
    """What ``recipe`` (default: the config's for ``phase``) achieves on a finished build, against what it asks.

    Runs the loaders' schedule for one epoch on one shard. ``natural`` is each component's
    share if every document were used once; ``achieved`` is the share the loader serves;
    ``used`` is the fraction of the component's tokens one epoch serves (> 1: upsampled).
    """
    recipe = recipe if recipe is not None else recipe_for(settings, phase)
    if recipe is None:
        return {}
    index = build_index(out, phase, recipe)
    k = len(index.names)
    served = np.zeros(k)
    docs = np.zeros(k, dtype=np.int64)
    for c, row in schedule(
        index, settings.seed if seed is None else seed, 0, stopping_strategy=settings.stopping_strategy
    ):
        served[c] += max(1, int(index.length[row]))
        docs[c] += 1
    avail = np.array([index.length[index.component == c].sum() for c in range(k)], dtype=np.float64)
    avail_docs = np.array([(index.component == c).sum() for c in range(k)])
    unassigned = int(index.length[index.component < 0].sum())
    total_avail = avail.sum()
    total_served = served.sum()
    comps = {}
    for c, name in enumerate(index.names):
        comp = recipe[name]
        achieved = served[c] / total_served if total_served else 0.0
        comps[name] = {
            "filter": comp.model_dump(mode="json", exclude={"weight"}),
            "asked": round(float(index.weights[c]), 6),
            "achieved": round(float(achieved), 6),
            "natural": round(float(avail[c] / total_avail), 6) if total_avail else 0.0,
            f"available_{index.unit}": int(avail[c]),
            "available_docs": int(avail_docs[c]),
            f"served_{index.unit}": int(served[c]),
            "served_docs": int(docs[c]),
            "used": round(float(served[c] / avail[c]), 6) if avail[c] else 0.0,
        }
    errors = [abs(v["achieved"] - v["asked"]) for v in comps.values()]
    warnings = [f"component {n!r} matches no document of {phase}" for n, v in comps.items() if not v["available_docs"]]
    return {
        "unit": index.unit,
        "seed": settings.seed if seed is None else seed,
        "stopping_strategy": settings.stopping_strategy,
        "sampling": "loader (token-deficit interleaving, seeded shuffles); the build subsamples nothing",
        "epoch_" + index.unit: int(total_served),
        "unassigned_" + index.unit: unassigned,
        "epoch_share_of_phase": round(float(total_served / (total_avail + unassigned)), 6)
        if total_avail + unassigned
        else 0.0,
        "max_abs_error": round(max(errors), 6) if errors else 0.0,
        "components": comps,
        "warnings": warnings,
    }
