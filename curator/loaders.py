"""Trainer-side loaders: open a build output and feed its phases to a training loop.

* :func:`load_phase` gives ``OUT/phase1`` or ``OUT/phase2`` as a Hugging Face ``datasets``
  dataset (a memory-mapped ``Dataset``, or an ``IterableDataset`` with ``streaming=True``); it reads
  local Parquet only, so it works offline (``HF_HUB_OFFLINE=1``). :func:`load_mixture` gives a
  phase's recipe as one interleaved ``datasets`` dataset (random sampling by token weight).
* :class:`PhaseIterableDataset` is a PyTorch ``IterableDataset`` for the training loop:

  - it shards across data-parallel ranks *and* dataloader workers: shard ``rank * workers + worker``
    of ``world_size * workers`` gets a contiguous, balanced (+-1 document) block of every
    component, so all shards together serve every document of the phase exactly once per epoch;
  - it samples the phase's mixture (the recipe from the build's config, or one passed in) by
    token weight with a seed (:mod:`curator.mixtures`): the build subsamples nothing;
  - ``state_dict()`` / ``load_state_dict()`` save and restore its position, so a resumed run
    continues the same sequence and sees no document twice. In-process iteration (and
    ``torchdata``'s ``StatefulDataLoader``, which calls them inside each worker) track it
    directly; with a plain ``DataLoader`` and workers use :meth:`PhaseIterableDataset.loader_state_dict`.

``torch`` and ``datasets`` are imported only when these are used, so the rest of ``curator`` works
without them. The trainer needs ``torch`` (the ``cpu`` extra pins a CPU build).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator import schema as S
from curator.exceptions import LoaderError
from curator.mixtures import PHASES, Recipe, as_recipe, build_index, component_of, phase_dir, schedule
from curator.settings import MixtureSettings
from curator.writers import parquet_files

STATE_VERSION = 1
DEFAULT_COLUMNS = (S.ID, S.TEXT)
COMPONENT_KEY = "component"  # key added to each sample when the phase is served as a mixture

__all__ = [
    "PHASES",
    "PhaseIterableDataset",
    "build_mixture_settings",
    "load_mixture",
    "load_phase",
    "phase_files",
]


def phase_files(out: str | Path, phase: str) -> list[str]:
    """The Parquet files of ``OUT/<phase>``, sorted (web parts, then synthetic parts in phase 2)."""
    return [str(f) for f in parquet_files(phase_dir(out, phase))]


def load_phase(
    out: str | Path,
    phase: str = "phase1",
    streaming: bool = False,
    columns: Sequence[str] | None = None,
    cache_dir: str | None = None,
):
    """A build phase as a Hugging Face dataset (split ``train``).

    Args:
        out: the build output directory.
        phase: ``phase1`` or ``phase2``.
        streaming: ``True`` gives a ``datasets.IterableDataset`` read lazily from the Parquet
            files (shard it with ``datasets.distributed.split_dataset_by_node``); ``False`` an
            Arrow-cached, memory-mapped ``datasets.Dataset``.
        columns: columns to read (default: all of ``DOC_SCHEMA``).
        cache_dir: where ``datasets`` writes its Arrow cache (non-streaming).
    """
    from datasets import load_dataset

    files = phase_files(out, phase)
    kwargs: dict[str, Any] = {"split": "train", "streaming": streaming}
    if columns is not None:
        kwargs["columns"] = list(columns)
    if cache_dir is not None and not streaming:
        kwargs["cache_dir"] = cache_dir
    return load_dataset("parquet", data_files={"train": files}, **kwargs)


def load_mixture(
    out: str | Path,
    phase: str = "phase2",
    mixture: str | Mapping | None = "manifest",
    seed: int | None = None,
    stopping_strategy: str | None = None,
    streaming: bool = False,
    columns: Sequence[str] | None = None,
    cache_dir: str | None = None,
):
    """A phase's mixture as one Hugging Face dataset (``datasets.interleave_datasets``).

    Each component is the phase filtered by its recipe filter (first match wins, as in the torch
    loader); components are interleaved at random with the seed, with per-document probabilities
    ``weight / mean length`` so the expected *token* shares are the recipe's (random sampling: the
    shares land near the recipe, not within one document of it as with :class:`PhaseIterableDataset`).
    """
    from datasets import interleave_datasets

    stream = _PhaseStream(out, phase, mixture=mixture, seed=seed, stopping_strategy=stopping_strategy, columns=())
    index, recipe = stream.index, stream.recipe
    parts, probs = [], []
    for c in range(len(index.names)):
        rows = index.rows_of(c)
        probs.append(float(index.weights[c]) / max(1.0, float(index.length[rows].mean())))
        if streaming:
            need = None if columns is None else list(dict.fromkeys([*columns, S.SOURCE, S.EDU_SCORE]))
            ds = load_phase(out, phase, streaming=True, columns=need)
            if recipe is not None:
                ds = ds.filter(lambda ex, _c=c: component_of(ex[S.SOURCE], ex[S.EDU_SCORE], recipe) == _c)
            if columns is not None:
                ds = ds.select_columns(list(columns))
        else:
            ds = load_phase(out, phase, columns=columns, cache_dir=cache_dir).select(
                rows
            )  # same row order as the index
        parts.append(ds)
    total = sum(probs)
    return interleave_datasets(
        parts, probabilities=[p / total for p in probs], seed=stream.seed, stopping_strategy=stream.stopping_strategy
    )


def build_mixture_settings(out: str | Path) -> MixtureSettings:
    """The ``mixture`` section the build ran with (from its ``manifest.json``; defaults if none)."""
    path = Path(out) / "manifest.json"
    if not path.exists():
        return MixtureSettings()
    data = json.loads(path.read_text()).get("config", {}).get("mixture")
    return MixtureSettings.model_validate(data) if data else MixtureSettings()


class _RowReader:
    """Reads documents by global row, one row group at a time (a small LRU of decoded row groups)."""

    def __init__(self, index, columns: Sequence[str], capacity: int) -> None:
        import pyarrow.parquet as pq

        self.index = index
        self.columns = list(columns)
        self.capacity = max(2, capacity)
        self._files: dict[int, Any] = {}
        self._cache: OrderedDict[tuple[int, int], dict[str, list]] = OrderedDict()
        self._pq = pq

    def _group(self, fi: int, rg: int) -> dict[str, list]:
        key = (fi, rg)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        pf = self._files.get(fi)
        if pf is None:
            pf = self._files[fi] = self._pq.ParquetFile(self.index.files[fi])
        have = set(pf.schema_arrow.names)
        t = pf.read_row_group(rg, columns=[c for c in self.columns if c in have])
        cols = {c: (t.column(c).to_pylist() if c in have else [None] * t.num_rows) for c in self.columns}
        self._cache[key] = cols
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return cols

    def get(self, row: int) -> dict[str, Any]:
        fi, rg, off = self.index.locate(row)
        cols = self._group(fi, rg)
        return {c: cols[c][off] for c in self.columns}


class _PhaseStream:
    """The torch-free body of :class:`PhaseIterableDataset` (see there)."""

    def __init__(
        self,
        out: str | Path,
        phase: str = "phase1",
        *,
        mixture: str | Mapping | None = "manifest",
        seed: int | None = None,
        stopping_strategy: str | None = None,
        columns: Sequence[str] = DEFAULT_COLUMNS,
        rank: int | None = None,
        world_size: int | None = None,
        shuffle: bool = True,
        epoch: int = 0,
    ) -> None:
        settings = build_mixture_settings(out)
        if isinstance(mixture, str):
            if mixture != "manifest":
                raise LoaderError(f"mixture must be 'manifest', None or a recipe mapping, not {mixture!r}")
            recipe = getattr(settings, phase, None) if phase in PHASES else None
        else:
            recipe = as_recipe(mixture)
        self.out = str(out)
        self.phase = phase
        self.recipe: Recipe | None = recipe
        self.seed = settings.seed if seed is None else int(seed)
        self.stopping_strategy = stopping_strategy or settings.stopping_strategy
        if self.stopping_strategy not in ("first_exhausted", "all_exhausted"):
            raise LoaderError(
                f"stopping_strategy must be first_exhausted or all_exhausted, not {self.stopping_strategy!r}"
            )
        self.columns = tuple(columns)
        self.shuffle = shuffle
        if rank is None or world_size is None:
            drank, dworld = _dist_rank_world()
            rank = drank if rank is None else rank
            world_size = dworld if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise LoaderError(f"rank {rank} is outside world_size {world_size}")
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = int(epoch)
        self.index = build_index(out, phase, recipe)
        empty = [n for c, n in enumerate(self.index.names) if recipe and not (self.index.component == c).any()]
        if empty:
            raise LoaderError(
                f"mixture components {empty} match no document of {phase} in {out}: change the recipe's filters"
            )
        self._resume: dict[int, int] = {}
        self._resume_epoch: int | None = None
        self._state_workers: int | None = None
        self._next_worker = 0
        self._yielded: dict[int, int] = {}
        self._num_workers = 1

    # ------------------------------------------------------------------ iteration

    @property
    def num_docs(self) -> int:
        """Documents of the phase (all shards together); with a recipe, those in some component."""
        return int((self.index.component >= 0).sum())

    @property
    def unit(self) -> str:
        """What mixture weights count: ``tokens`` (the build counted them) or ``chars``."""
        return self.index.unit

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` (a new shuffle); call before each epoch.

        The epoch starts from its beginning, unless it is the epoch of a position restored with
        :meth:`load_state_dict` (then it continues from there), so a resumed loop can call
        ``set_epoch`` as usual.
        """
        self.epoch = int(epoch)
        if self.epoch != self._resume_epoch:
            self._resume, self._resume_epoch, self._yielded, self._next_worker = {}, None, {}, 0

    def _worker(self) -> tuple[int, int]:
        try:
            from torch.utils.data import get_worker_info
        except ImportError:  # pragma: no cover - torch-free use of the stream
            return 0, 1
        info = get_worker_info()
        return (info.id, info.num_workers) if info is not None else (0, 1)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        wid, nw = self._worker()
        if self._state_workers is not None and self._resume_epoch == self.epoch and self._state_workers != nw:
            raise LoaderError(
                f"this position was saved with {self._state_workers} dataloader worker(s); "
                f"restore it with the same num_workers (got {nw})"
            )
        self._num_workers = nw
        resuming = self._resume_epoch == self.epoch
        # a DataLoader asks worker 0 first; after a restore, worker 0 plays the one whose turn was next
        wid = (wid + (self._next_worker if resuming else 0)) % nw
        start = self._resume.get(wid, 0) if resuming else 0
        self._yielded[wid] = start
        shard, num_shards = self.rank * nw + wid, self.world_size * nw
        reader = _RowReader(self.index, self.columns, capacity=2 * len(self.index.names) + 2)
        names = self.index.names
        for i, (c, row) in enumerate(
            schedule(self.index, self.seed, self.epoch, shard, num_shards, self.stopping_strategy, self.shuffle)
        ):
            if i < start:
                continue
            sample = reader.get(row)
            if self.recipe is not None:
                sample[COMPONENT_KEY] = names[c]
            self._yielded[wid] = i + 1
            yield sample

    # ------------------------------------------------------------------ position

    def _identity(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "phase": self.phase,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "shuffle": self.shuffle,
            "stopping_strategy": self.stopping_strategy,
            "recipe": {n: float(w) for n, w in zip(self.index.names, self.index.weights)},
            "num_docs": self.num_docs,
        }

    def state_dict(self) -> dict[str, Any]:
        """This process's position: epoch and documents served per dataloader worker.

        Exact for in-process iteration (``num_workers=0``) and inside a worker (what
        ``torchdata.stateful_dataloader.StatefulDataLoader`` calls). With a plain ``DataLoader``
        and workers, the main process's copy does not see the workers: use :meth:`loader_state_dict`.
        """
        positions = {str(k): int(v) for k, v in self._yielded.items()}
        return {
            **self._identity(),
            "epoch": self.epoch,
            "num_workers": self._num_workers,
            "next_worker": 0,
            "positions": positions,
        }

    def loader_state_dict(self, batches: int, batch_size: int, num_workers: int) -> dict[str, Any]:
        """The position after a plain ``DataLoader(self, batch_size, num_workers)`` yielded ``batches`` batches.

        A ``DataLoader`` over an ``IterableDataset`` takes batches from its workers in turn
        (worker 0, 1, ..., 0, 1, ...; ``in_order=True``, the default), so worker ``w`` has served
        ``batch_size`` x its share of ``batches``. Valid until a worker runs out (the last batch of
        an epoch); positions restored into this epoch are added.
        """
        nw = max(1, int(num_workers))
        resuming = self._resume_epoch == self.epoch
        start = self._resume if resuming else {}
        first = self._next_worker if resuming else 0
        positions = {}
        for w in range(nw):
            turns = batches // nw + (
                1 if (w - first) % nw < batches % nw else 0
            )  # logical worker w's share of the turns
            positions[str(w)] = int(start.get(w, 0) + turns * batch_size)
        next_worker = (first + batches) % nw
        return {
            **self._identity(),
            "epoch": self.epoch,
            "num_workers": nw,
            "next_worker": next_worker,
            "positions": positions,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict` / :meth:`loader_state_dict`) on the next iteration.

        Raises:
            LoaderError: the state belongs to another phase, seed, rank layout, recipe or build.
        """
        if state.get("version") != STATE_VERSION:
            raise LoaderError(f"loader state version {state.get('version')!r} is not {STATE_VERSION}")
        mine = self._identity()
        diff = [k for k in mine if k != "version" and state.get(k) != mine[k]]
        if diff:
            detail = ", ".join(f"{k}: saved {state.get(k)!r} vs now {mine[k]!r}" for k in diff)
            raise LoaderError(
                f"cannot resume: the saved loader position does not fit this dataset ({detail}); "
                "use the same build, phase, seed, recipe, rank and world_size"
            )
        self.epoch = int(state["epoch"])
        self._resume = {int(k): int(v) for k, v in state.get("positions", {}).items()}
        self._resume_epoch = self.epoch
        self._state_workers = int(state.get("num_workers", 1))
        self._next_worker = int(state.get("next_worker", 0)) % self._state_workers
        self._yielded = dict(self._resume)
        self._num_workers = self._state_workers


def _dist_rank_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_TORCH_CLASSES: dict[str, type] = {}


def _torch_class() -> type:
    cls = _TORCH_CLASSES.get("PhaseIterableDataset")
    if cls is None:
        try:
            from torch.utils.data import IterableDataset
        except ImportError as exc:
            raise LoaderError(
                "PhaseIterableDataset needs PyTorch: install edu-curator[cpu] (or a torch build for your accelerator)"
            ) from exc
        cls = type(
            "PhaseIterableDataset",
            (_PhaseStream, IterableDataset),
            {
                "__module__": __name__,
                "__qualname__": "PhaseIterableDataset",
                "__doc__": """A build phase as a sharded, mixture-sampling, resumable PyTorch ``IterableDataset``.

    Each sample is a dict of ``columns`` (plus ``component`` when a recipe is used).

    Args:
        out: the build output directory.
        phase: ``phase1`` or ``phase2``.
        mixture: ``"manifest"`` (the recipe the build's config states for this phase; the whole
            phase if none), ``None`` (the whole phase, every document once per epoch) or a recipe
            ``{name: {"source": "web"|"synthetic"|"any", "min_score": x, "max_score": y, "weight": w}}``.
        seed: shuffle seed (default: the config's ``mixture.seed``).
        stopping_strategy: ``first_exhausted`` (no document repeats) or ``all_exhausted``.
        columns: columns of each sample (default ``id``, ``text``).
        rank, world_size: data-parallel position (default: from ``torch.distributed``, else 0 of 1).
        shuffle: shuffle row groups and rows with the seed (False: file order).
        epoch: the epoch to start with (see :meth:`set_epoch`).
    """,
            },
        )
        _TORCH_CLASSES["PhaseIterableDataset"] = cls
    return cls


def __getattr__(name: str):
    if name == "PhaseIterableDataset":
        return _torch_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    # At run time the class is built on first access by ``__getattr__`` above (torch is optional);
    # this declaration is what linters and type checkers see.
    from torch.utils.data import IterableDataset

    class PhaseIterableDataset(_PhaseStream, IterableDataset): ...
