"""Trainer loaders: HF datasets per phase, a sharded/mixing/resumable torch IterableDataset.

Phase directories are written here with pyarrow (no Ray build needed).
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from curator import schema as S
from curator.exceptions import LoaderError
from curator.mixtures import mixture_report
from curator.settings import MixtureSettings
from curator.writers import atomic_write_table

RECIPE = {
    "web_min_score_4": {"source": "web", "min_score": 4.0, "weight": 0.6},
    "synthetic": {"source": "synthetic", "weight": 0.4},
}


def _write(directory, name, n, *, synthetic=False, seed=0, row_group_rows=50):
    rng = np.random.default_rng(seed)
    ntok = rng.integers(10, 400, n)
    t = pa.table(
        {
            S.ID: [f"{directory.name}/{name}/{i}" for i in range(n)],
            S.TEXT: [f"doc {i} " + "tok " * int(k) for i, k in enumerate(ntok)],
            S.SOURCE: ["synthetic" if synthetic else "web-shard"] * n,
            S.EDU_SCORE: pa.array([None] * n if synthetic else rng.uniform(3.0, 5.0, n), pa.float32()),
            S.N_TOKENS: ntok,
        }
    )
    atomic_write_table(S.conform(t), directory / f"{name}.parquet", row_group_rows=row_group_rows)
    return t


@pytest.fixture(scope="module")
def build_out(tmp_path_factory):
    """A build output: phase1 (web), phase2 (web + synthetic), a manifest stating a phase-2 recipe."""
    out = tmp_path_factory.mktemp("loaders") / "out"
    _write(out / "phase1", "part-00000", 230, seed=1)
    _write(out / "phase1", "part-00001", 171, seed=2)
    _write(out / "phase2", "part-00000", 1500, seed=3)
    _write(out / "phase2", "synthetic-00000", 900, synthetic=True, seed=4)
    config = {"mixture": {"seed": 7, "phase2": RECIPE}}
    (out / "manifest.json").write_text(json.dumps({"config": config}))
    return out


def _ids(out, phase):
    import pyarrow.parquet as pq

    return sorted(
        i
        for f in sorted((out / phase).glob("*.parquet"))
        for i in pq.read_table(f, columns=[S.ID]).column(S.ID).to_pylist()
    )


def test_load_phase_hf_dataset_and_streaming(build_out, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from curator.loaders import load_phase

    ds = load_phase(build_out, "phase2", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 2400 and set(S.DOC_SCHEMA.names) <= set(ds.column_names)
    assert sorted(ds[S.ID]) == _ids(build_out, "phase2")
    stream = load_phase(build_out, "phase1", streaming=True, columns=[S.ID, S.N_TOKENS])
    rows = list(stream)
    assert sorted(r[S.ID] for r in rows) == _ids(build_out, "phase1") and set(rows[0]) == {S.ID, S.N_TOKENS}
    with pytest.raises(LoaderError, match="unknown phase"):
        load_phase(build_out, "phase3")


def test_two_ranks_two_workers_see_every_document_once(build_out):
    from torch.utils.data import DataLoader

    from curator.loaders import PhaseIterableDataset

    seen: list[str] = []
    per_rank = []
    for rank in range(2):
        ds = PhaseIterableDataset(build_out, "phase1", mixture=None, seed=11, rank=rank, world_size=2, columns=[S.ID])
        got = [s[S.ID] for s in DataLoader(ds, batch_size=None, num_workers=2)]
        per_rank.append(len(got))
        seen += got
    assert Counter(seen) == Counter(_ids(build_out, "phase1"))  # every document exactly once
    assert abs(per_rank[0] - per_rank[1]) <= 2  # balanced ranks (DDP steps stay in lockstep)
    # the shuffle is seeded: same seed same order, another epoch another order
    a = PhaseIterableDataset(build_out, "phase1", mixture=None, seed=11, rank=0, world_size=1)
    first = [s[S.ID] for s in a]
    assert first == [s[S.ID] for s in a] and first != _ids(build_out, "phase1")
    a.set_epoch(1)
    second = [s[S.ID] for s in a]
    assert second != first and sorted(second) == sorted(first)


def test_mixture_by_weight_within_2_percent(build_out):
    from torch.utils.data import DataLoader

    from curator.loaders import PhaseIterableDataset

    tokens: Counter = Counter()
    ids: list[str] = []
    for rank in range(2):
        ds = PhaseIterableDataset(
            build_out, "phase2", rank=rank, world_size=2, columns=[S.ID, S.N_TOKENS, S.SOURCE, S.EDU_SCORE]
        )
        assert ds.seed == 7 and list(ds.recipe) == list(RECIPE)  # recipe and seed from the build's config
        for s in DataLoader(ds, batch_size=None, num_workers=2):
            tokens[s["component"]] += s[S.N_TOKENS]
            ids.append(s[S.ID])
            if s["component"] == "synthetic":
                assert s[S.SOURCE] == "synthetic"
            else:
                assert s[S.SOURCE] != "synthetic" and s[S.EDU_SCORE] >= 4.0
    total = sum(tokens.values())
    assert total > 100_000
    assert abs(tokens["web_min_score_4"] / total - 0.6) < 0.02 and abs(tokens["synthetic"] / total - 0.4) < 0.02
    assert len(ids) == len(set(ids))  # first_exhausted: no document repeats
    # the build's report runs the same schedule: achieved vs asked
    rep = mixture_report(build_out, MixtureSettings(seed=7, phase2=RECIPE), "phase2")
    assert rep["unit"] == "tokens" and rep["max_abs_error"] < 0.02
    syn = rep["components"]["synthetic"]
    assert syn["asked"] == 0.4 and abs(syn["achieved"] - 0.4) < 0.02 and syn["available_docs"] == 900
    # the natural share (every doc once) is far from the recipe: the loader, not the data, meets it
    assert abs(syn["natural"] - 0.4) > 0.02


def test_all_exhausted_upsamples_until_every_component_seen(build_out):
    from curator.loaders import PhaseIterableDataset

    ds = PhaseIterableDataset(build_out, "phase2", stopping_strategy="all_exhausted", columns=[S.ID, S.N_TOKENS])
    comp = Counter()
    by_comp: dict[str, Counter] = {"web_min_score_4": Counter(), "synthetic": Counter()}
    for s in ds:
        comp[s["component"]] += s[S.N_TOKENS]
        by_comp[s["component"]][s[S.ID]] += 1
    assert len(by_comp["synthetic"]) == 900 and len(by_comp["web_min_score_4"]) == ds.index.rows_of(0).size
    assert max(by_comp["synthetic"].values()) == 1 and max(by_comp["web_min_score_4"].values()) == 2  # web upsampled
    assert abs(comp["synthetic"] / sum(comp.values()) - 0.4) < 0.02


def test_state_dict_resume_continues_the_same_sequence(build_out):
    from curator.loaders import PhaseIterableDataset

    def make():
        return PhaseIterableDataset(build_out, "phase2", seed=5, rank=1, world_size=2, columns=[S.ID])

    full = [s[S.ID] for s in make()]
    ds = make()
    it = iter(ds)
    head = [next(it)[S.ID] for _ in range(137)]
    state = json.loads(json.dumps(ds.state_dict()))  # survives a checkpoint file
    assert state["positions"] == {"0": 137}
    resumed = make()
    resumed.load_state_dict(state)
    resumed.set_epoch(0)  # a resumed loop calls set_epoch as usual: the restored epoch continues
    tail = [s[S.ID] for s in resumed]
    assert head + tail == full and not set(head) & set(tail)
    resumed.set_epoch(1)  # the next epoch starts from its beginning
    fresh = make()
    fresh.set_epoch(1)
    assert [s[S.ID] for s in resumed] == [s[S.ID] for s in fresh] != full
    # a position does not fit another rank layout or recipe
    other = PhaseIterableDataset(build_out, "phase2", seed=5, rank=0, world_size=4, columns=[S.ID])
    with pytest.raises(LoaderError, match="world_size"):
        other.load_state_dict(state)
    with pytest.raises(LoaderError, match="recipe"):
        PhaseIterableDataset(build_out, "phase2", mixture=None, seed=5, rank=1, world_size=2).load_state_dict(state)


def test_resume_with_dataloader_workers(build_out):
    from torch.utils.data import DataLoader

    from curator.loaders import PhaseIterableDataset

    def make():
        return PhaseIterableDataset(build_out, "phase1", mixture=None, seed=3, columns=[S.ID])

    bs, nw = 8, 2
    full = [i for b in DataLoader(make(), batch_size=bs, num_workers=nw) for i in b[S.ID]]
    ds = make()
    loader = iter(DataLoader(ds, batch_size=bs, num_workers=nw))
    head = [i for _ in range(7) for i in next(loader)[S.ID]]
    state = ds.loader_state_dict(batches=7, batch_size=bs, num_workers=nw)
    del loader
    resumed = make()
    resumed.load_state_dict(state)
    tail = [i for b in DataLoader(resumed, batch_size=bs, num_workers=nw) for i in b[S.ID]]
    assert head + tail == full and sorted(head + tail) == _ids(build_out, "phase1")
    with pytest.raises(LoaderError, match="num_workers"):
        again = make()
        again.load_state_dict(state)
        next(iter(again))  # in-process iteration is 1 worker, the state was saved with 2


def test_bad_recipe_and_missing_build(build_out, tmp_path):
    from curator.loaders import PhaseIterableDataset

    with pytest.raises(LoaderError, match="match no document"):
        PhaseIterableDataset(build_out, "phase1", mixture={"syn": {"source": "synthetic", "weight": 1.0}})
    with pytest.raises(LoaderError, match="does not exist"):
        PhaseIterableDataset(tmp_path, "phase1")


@pytest.mark.parametrize("streaming", [False, True])
def test_load_mixture_hf_interleaves_by_token_weight(build_out, tmp_path, streaming):
    from curator.loaders import load_mixture

    ds = load_mixture(
        build_out,
        "phase2",
        streaming=streaming,
        columns=[S.ID, S.SOURCE, S.EDU_SCORE, S.N_TOKENS],
        cache_dir=str(tmp_path / "hf"),
    )
    tokens: Counter = Counter()
    ids = []
    for r in ds:
        syn = r[S.SOURCE] == "synthetic"
        assert syn or r[S.EDU_SCORE] >= 4.0  # recipe filters applied
        tokens["synthetic" if syn else "web"] += r[S.N_TOKENS]
        ids.append(r[S.ID])
    total = sum(tokens.values())
    assert len(ids) == len(set(ids)) > 500
    assert abs(tokens["synthetic"] / total - 0.4) < 0.05  # random interleaving: near the recipe


def test_mixture_config_validation():
    from curator.exceptions import ConfigError
    from curator.settings import load_config

    ok = load_config(None, {"mixture": {"phase2": RECIPE}})
    assert list(ok.mixture.phase2) == list(RECIPE) and ok.mixture.phase1 is None and ok.tokens.tokenizer is None
    with pytest.raises(ConfigError, match="mixture.phase2.a.weight"):
        load_config(None, {"mixture": {"phase2": {"a": {"source": "web", "weight": 0}}}})
    with pytest.raises(ConfigError, match="max_score must be > min_score"):
        load_config(None, {"mixture": {"phase1": {"a": {"min_score": 4, "max_score": 3, "weight": 1}}}})
    with pytest.raises(ConfigError, match="unknown field `mixture.phase2.a.min_scroe`"):
        load_config(None, {"mixture": {"phase2": {"a": {"min_scroe": 4, "weight": 1}}}})
    with pytest.raises(ConfigError, match="at least one component"):
        load_config(None, {"mixture": {"phase2": {}}})
