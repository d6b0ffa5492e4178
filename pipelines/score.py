"""Score documents on Ray: read inputs -> :class:`ScoreStage` actor pool -> Parquet.

The pipeline behind ``curator score``. Inputs go through :mod:`curator.readers` (one Ray
task per shard), so every format and every quarantine rule of a build applies; rejected
input lands in ``OUT/quarantine/``, scored documents in ``OUT/scored/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from classifiers.scoring import ScoreStage
from curator.stage import STAGE_CPUS, Resources, apply_stage

SCORED_DIR = "scored"
QUARANTINE_DIR = "quarantine"


def scoring_resources(num_actors: int = 2, batch_size: int = 4096, num_cpus: float = 0.5) -> Resources:
    return Resources(num_cpus=num_cpus, actors=num_actors, batch_size=batch_size)


def score_dataset(ds, model: str = "default", resources: Resources | None = None, config_hash: str = ""):
    """Add the score columns to a Ray dataset (lazy)."""
    return apply_stage(ds, ScoreStage, resources or scoring_resources(), model=model, config_hash=config_hash)


def _read_shard_rows(batch: pa.Table, settings_json: str, quarantine_dir: str) -> pa.Table:
    """Ray task body: read the shards named in ``batch`` and return their documents."""
    import pyarrow.parquet as pq

    from curator.readers import Shard, read_shard
    from curator.schema import INPUT_SCHEMA, QUARANTINE_SCHEMA
    from curator.settings import InputSettings

    settings = InputSettings.model_validate_json(settings_json)
    docs: list[pa.Table] = []
    for path, fmt in zip(batch.column("path").to_pylist(), batch.column("format").to_pylist()):
        shard = Shard(str(path), str(fmt))
        for i, (d, q) in enumerate(read_shard(shard, settings)):
            docs.append(d)
            if q.num_rows:
                Path(quarantine_dir).mkdir(parents=True, exist_ok=True)
                pq.write_table(q.cast(QUARANTINE_SCHEMA), Path(quarantine_dir) / f"{shard.key}-{i:05d}.parquet")
    return pa.concat_tables(docs) if docs else INPUT_SCHEMA.empty_table()


def run_score(
    inputs: list[str],
    out_dir: str | Path,
    model: str = "default",
    fmt: str = "auto",
    text_field: str = "text",
    id_field: str = "id",
    num_actors: int = 2,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """Score every document of ``inputs`` into ``out_dir/scored/*.parquet``; returns counts and timings."""
    import pyarrow.dataset as pads
    import ray

    from classifiers import load_classifier
    from curator.readers import expand_inputs
    from curator.settings import InputSettings

    t0 = time.perf_counter()
    version = load_classifier(model).version  # fail fast, before Ray, on a bad model
    shards = expand_inputs(list(inputs), fmt)
    settings = InputSettings(paths=list(inputs), format=fmt, text_field=text_field, id_field=id_field)
    out = Path(out_dir)
    scored = out / SCORED_DIR
    qdir = out / QUARANTINE_DIR
    if not ray.is_initialized():
        from curator.settings import RaySettings
        from pipelines.runtime import init_ray

        init_ray(RaySettings())
    ds = ray.data.from_items(
        [{"path": s.path, "format": s.format} for s in shards], override_num_blocks=max(1, len(shards))
    )
    ds = ds.map_batches(
        _read_shard_rows,
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=STAGE_CPUS,
        fn_kwargs={"settings_json": settings.model_dump_json(), "quarantine_dir": str(qdir)},
    )
    ds = score_dataset(ds, model, scoring_resources(num_actors, batch_size))
    ds.write_parquet(str(scored), compression="zstd")
    n_docs = pads.dataset(str(scored), format="parquet").count_rows() if scored.exists() else 0
    n_quarantined = pads.dataset(str(qdir), format="parquet").count_rows() if qdir.exists() else 0
    return {
        "inputs": len(shards),
        "scored": n_docs,
        "quarantined": n_quarantined,
        "classifier_version": version,
        "out": str(scored),
        "seconds": round(time.perf_counter() - t0, 2),
    }
