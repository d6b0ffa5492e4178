"""The corpus build, as a list of resumable steps on Ray Data.

    ingest -> annotate (heuristics + scoring) -> heuristic filter -> exact dedup
    -> fuzzy dedup -> decontamination -> thresholds -> synthesis -> write phases -> manifest

Each step reads the Parquet its predecessor committed under ``OUT/_work/`` and commits its
own output atomically; :class:`~pipelines.state.BuildState` records completed steps, so a
build killed at any point resumes from the last completed step (ingest resumes per shard).
Every step reports rows in, kept and dropped (with reasons); the manifest checks that they
add up.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.exceptions import OutputError
from curator.readers import Shard, expand_inputs, read_shard
from curator.settings import BuildConfig, check_files, config_hash
from curator.stage import Resources, apply_stage
from curator.writers import atomic_write_json, atomic_write_table, commit_dir, count_rows, file_info, parquet_files, temp_dir_for
from pipelines.state import BuildState
from pipelines import web_steps

Log = Callable[[str], None]
# Ray CPU tokens for tasks. Actor pools take half the cluster's CPUs; tasks share the rest. With the
# defaults (1 CPU per task), two actors on a 2-CPU machine would starve the read tasks and hang silently.
TASK_CPUS = 0.25


@dataclass
class BuildContext:
    config: BuildConfig
    out: Path
    state: BuildState
    chash: str
    progress: bool = True
    log: Log = print
    extra: dict = field(default_factory=dict)

    @property
    def work(self) -> Path:
        return self.out / "_work"

    @property
    def local(self) -> bool:
        return self.config.ray.executor == "local"

    def step_dir(self, name: str) -> Path:
        return self.work / name

    def rejected_dir(self, name: str) -> Path:
        return self.out / "rejected" / name


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildContext], dict]
    enabled: Callable[[BuildConfig], bool] = lambda c: True


# --------------------------------------------------------------------------- helpers


def _parquet_args(config: BuildConfig) -> dict:
    comp = config.output.compression
    return {"compression": None if comp == "none" else comp, "row_group_size": config.output.row_group_rows}


def map_batches(ds, fn: Callable[[pa.Table], pa.Table]):
    """``fn`` over every batch: a Ray task per block, or one call on an in-process table."""
    if isinstance(ds, pa.Table):
        return fn(ds)
    return ds.map_batches(fn, batch_format="pyarrow", zero_copy_batch=True, num_cpus=TASK_CPUS)


def write_dataset(ds, final: Path, schema: pa.Schema, config: BuildConfig, rows_per_file: int | None = None) -> list[Path]:
    """Conform every block to ``schema``, write it under a temp dir, commit atomically."""
    tmp = temp_dir_for(final)
    if isinstance(ds, pa.Table):
        tmp.mkdir(parents=True)
        table = S.conform(ds, schema)
        step = rows_per_file or max(1, table.num_rows)
        for i, start in enumerate(range(0, table.num_rows, step)):
            atomic_write_table(table.slice(start, step), tmp / f"part-{i:05d}.parquet", config.output.compression, config.output.row_group_rows)
        return commit_dir(tmp, final, schema, compression=config.output.compression)
    ds = map_batches(ds, lambda t, _s=schema: S.conform(t, _s))
    kwargs = _parquet_args(config)
    if rows_per_file:
        kwargs["min_rows_per_file"] = rows_per_file
    ds.write_parquet(str(tmp), ray_remote_args={"num_cpus": TASK_CPUS}, **kwargs)
    return commit_dir(tmp, final, schema, compression=config.output.compression)


def read_dir(ctx: BuildContext, path: Path, columns: list[str] | None = None):
    """A step's committed output: a Ray dataset, or one in-process table with the local executor."""
    files = [str(p) for p in parquet_files(path)]
    if ctx.local:
        return _read_table(path).select(columns) if columns else _read_table(path)
    import ray.data

    return ray.data.read_parquet(files, columns=columns, num_cpus=TASK_CPUS) if files else ray.data.from_arrow(S.empty())


def _read_table(path: Path) -> pa.Table:
    """A committed step output as one in-process table (small inputs, local executor)."""
    tables = [pq.read_table(f) for f in parquet_files(path)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else S.empty(S.DOC_SCHEMA)


def _stage_stats(n_in: int, n_out: int, reasons: dict | None = None, **extra) -> dict:
    return {"in": n_in, "out": n_out, "dropped": n_in - n_out, "reasons": dict(reasons or {}), **extra}


def _reason_counts(directory: Path, column: str = S.DROP_REASON) -> dict:
    counts: Counter = Counter()
    for f in parquet_files(directory):
        col = pq.read_table(f, columns=[column]).column(column)
        counts.update(v for v in col.to_pylist())
    return {str(k): v for k, v in counts.most_common()}


def file_tasks(
    ctx: BuildContext, src: Path, fn: Callable[[pa.Table], dict[str, pa.Table]], outputs: dict[str, tuple[Path, pa.Schema]], num_cpus: float = TASK_CPUS
) -> None:
    """Apply ``fn`` to each Parquet file of ``src`` in its own Ray task and commit every output dir atomically.

    ``fn`` maps a table to ``{output name: table}``; ``outputs`` maps each name to (final dir, schema).
    Plain Ray tasks cost milliseconds where a Ray Data execution costs seconds, so row-routing steps
    (filters, splits) use this; the per-document compute (annotate) uses Ray Data.
    """
    files = parquet_files(src)
    tmps = {name: temp_dir_for(final) for name, (final, _) in outputs.items()}
    for t in tmps.values():
        t.mkdir(parents=True)
    schemas = {name: schema for name, (_, schema) in outputs.items()}
    comp, rg = ctx.config.output.compression, ctx.config.output.row_group_rows

    def work(i: int, path: str) -> None:
        result = fn(pq.read_table(path))
        for name, table in result.items():
            if name in schemas and table.num_rows:  # an output not asked for (e.g. rejected rows, write_rejected off) is dropped
                atomic_write_table(S.conform(table, schemas[name]), tmps[name] / f"part-{i:05d}.parquet", comp, rg)

    if ctx.local:
        for i, f in enumerate(files):
            work(i, str(f))
    else:
        import ray

        remote = ray.remote(num_cpus=num_cpus, max_retries=2)(work)
        ray.get([remote.remote(i, str(f)) for i, f in enumerate(files)])
    for name, (final, schema) in outputs.items():
        commit_dir(tmps[name], final, schema, compression=comp)


def _split_step(ctx: BuildContext, src: Path, dst: Path, stage: str, keep_fn, reason) -> dict:
    """Split ``src`` into kept rows (``dst``) and dropped rows (``rejected/<stage>``), file by file."""
    from pipelines.stages import split_table

    outputs = {"kept": (dst, S.DOC_SCHEMA)}
    if ctx.config.output.write_rejected:
        outputs["dropped"] = (ctx.rejected_dir(stage), S.REJECTED_SCHEMA)

    def route(t: pa.Table) -> dict[str, pa.Table]:
        kept, dropped = split_table(t, keep_fn(t), stage, reason)
        return {"kept": kept, "dropped": dropped}

    file_tasks(ctx, src, route, outputs)
    reasons = _reason_counts(ctx.rejected_dir(stage)) if ctx.config.output.write_rejected else {}
    n_in, n_out = count_rows(src), count_rows(dst)
    if not reasons and n_in != n_out:
        reasons = {stage: n_in - n_out}
    return _stage_stats(n_in, n_out, reasons)


def _last_kept(ctx: BuildContext) -> Path:
    return ctx.extra.get("kept", ctx.step_dir("filtered"))


# --------------------------------------------------------------------------- steps


def _ingest_shard(shard: Shard, input_settings: dict, out_dir: str, quarantine_path: str, compression: str, extract: dict | None = None) -> dict:
    """Read one shard into Parquet parts plus a quarantine file; idempotent (redoes a partial shard)."""
    from curator.settings import InputSettings

    settings = InputSettings.model_validate(input_settings)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    tmp = temp_dir_for(out)
    tmp.mkdir(parents=True)
    rows = 0
    quarantine: list[pa.Table] = []
    for i, (docs, q) in enumerate(read_shard(shard, settings, extract=extract)):
        if docs.num_rows:
            atomic_write_table(docs, tmp / f"part-{i:05d}.parquet", compression=compression)
            rows += docs.num_rows
        if q.num_rows:
            quarantine.append(q)
    qt = pa.concat_tables(quarantine) if quarantine else S.empty(S.QUARANTINE_SCHEMA)
    atomic_write_table(qt, quarantine_path, compression=compression)
    reasons = Counter(qt.column(S.Q_REASON).to_pylist())
    stats = {"shard": shard.path, "rows": rows, "quarantined": qt.num_rows, "reasons": dict(reasons)}
    atomic_write_json(stats, tmp / "_DONE.json")
    os.replace(tmp, out)
    return stats


def step_ingest(ctx: BuildContext) -> dict:
    cfg = ctx.config
    shards = expand_inputs(cfg.input.paths, cfg.input.format)
    base = ctx.step_dir("ingest")
    qdir = ctx.work / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    done, pending = [], []
    for sh in shards:
        marker = base / sh.key / "_DONE.json"
        (done if marker.exists() else pending).append(sh)
    results = [json.loads((base / sh.key / "_DONE.json").read_text()) for sh in done]
    extract = cfg.extract.model_dump(mode="json")
    args = lambda sh: (sh, cfg.input.model_dump(), str(base / sh.key), str(qdir / f"{sh.key}.parquet"), cfg.output.compression, extract)  # noqa: E731
    bar = _bar(total=len(shards), initial=len(done), desc="ingest shards", enabled=ctx.progress)
    if ctx.local:
        for sh in pending:
            results.append(_ingest_shard(*args(sh)))
            bar.update(1)
            fault_point("ingest:shard")
    else:
        import ray

        remote = ray.remote(num_cpus=0.5, max_retries=2)(_ingest_shard)
        refs: dict = {}
        queue = list(pending)
        max_inflight = max(2, int(ray.cluster_resources().get("CPU", 2)) * 2)
        while queue or refs:
            while queue and len(refs) < max_inflight:
                sh = queue.pop(0)
                refs[remote.remote(*args(sh))] = sh
            ready, _ = ray.wait(list(refs), num_returns=1)
            for r in ready:
                refs.pop(r)
                results.append(ray.get(r))
                bar.update(1)
    bar.close()
    from pipelines.ingest_ids import quarantine_duplicate_ids

    results = quarantine_duplicate_ids(base, qdir, shards, cfg.output.compression)  # ids repeated across shards
    reasons: Counter = Counter()
    for r in results:
        reasons.update(r["reasons"])
    rows = sum(r["rows"] for r in results)
    quarantined = sum(r["quarantined"] for r in results)
    return _stage_stats(rows + quarantined, rows, reasons, shards=len(shards), unit="records")


def step_annotate(ctx: BuildContext) -> dict:
    """Heuristic flags, text hash and educational scores for every ingested document.

    ``classifier.execution: files`` (default) runs read → heuristics → hash → score → write inside one
    Ray task per ingest part, with the classifier loaded once per worker process: no object-store copies
    (benchmarks/bench_scoring.py --mode files: ~2x the Ray Data path on 2 CPUs). ``actors`` runs the same
    stages as one Ray Data job with a scoring actor pool.
    """
    from curator.heuristics import HeuristicStage
    from pipelines.runtime import cluster_cpus
    from pipelines.stages import ScorePassingStage

    cfg = ctx.config
    heuristics = cfg.heuristics.model_dump(mode="json")
    if ctx.local or cfg.classifier.execution == "files":
        file_tasks(
            ctx,
            ctx.step_dir("ingest"),
            _AnnotateFile(heuristics, cfg.classifier.model, ctx.chash),
            {"annotated": (ctx.step_dir("annotated"), S.DOC_SCHEMA)},
            num_cpus=1.0,
        )
    else:
        ds = read_dir(ctx, ctx.step_dir("ingest"))
        ds = apply_stage(ds, HeuristicStage, Resources(num_cpus=TASK_CPUS, batch_size=1024), settings=heuristics)
        ds = _add_text_hash(ds)
        cpus = cluster_cpus()
        actors = cfg.classifier.num_actors or max(1, int(cpus))
        res = Resources(num_cpus=max(0.1, cpus * 0.5 / actors), actors=actors, batch_size=cfg.classifier.batch_size)
        ds = apply_stage(ds, ScorePassingStage, res, model=cfg.classifier.model, config_hash=ctx.chash)
        ds = map_batches(ds, _with_config_hash(ctx.chash))
        write_dataset(ds, ctx.step_dir("annotated"), S.DOC_SCHEMA, cfg)
    n = count_rows(ctx.step_dir("annotated"))
    return _stage_stats(n, n)


_STAGE_CACHE: dict = {}


class _AnnotateFile:
    """Annotate one ingest part (picklable; stages are built once per worker process and reused)."""

    def __init__(self, heuristics: dict, model: str, chash: str) -> None:
        self.heuristics, self.model, self.chash = heuristics, model, chash

    def _stages(self):
        key = (json.dumps(self.heuristics, sort_keys=True), self.model)
        if key not in _STAGE_CACHE:
            from curator.heuristics import HeuristicStage
            from pipelines.stages import ScorePassingStage

            from curator.dedup.exact import TextHashStage

            _STAGE_CACHE[key] = [HeuristicStage(settings=self.heuristics), TextHashStage(), ScorePassingStage(model=self.model)]
        return _STAGE_CACHE[key]

    def __call__(self, table: pa.Table) -> dict[str, pa.Table]:
        batch_rows = 8192
        parts = []
        for start in range(0, max(table.num_rows, 1), batch_rows):
            t = table.slice(start, batch_rows)
            for stage in self._stages():
                t = stage(t)
            parts.append(_with_config_hash(self.chash)(t))
        return {"annotated": pa.concat_tables(parts) if parts else S.empty(S.DOC_SCHEMA)}


def _with_config_hash(chash: str):
    def _fn(t: pa.Table) -> pa.Table:
        t = S.conform(t, S.DOC_SCHEMA)
        i = t.schema.get_field_index(S.CONFIG_HASH)
        return t.set_column(i, S.CONFIG_HASH, pa.repeat(pa.scalar(chash, pa.string()), t.num_rows))

    return _fn


def _add_text_hash(ds):
    from curator.dedup.exact import TextHashStage

    return apply_stage(ds, TextHashStage, Resources(num_cpus=TASK_CPUS, batch_size=4096))


def step_heuristic_filter(ctx: BuildContext) -> dict:
    from pipelines.stages import first_flag

    def keep(t: pa.Table) -> pa.Array:
        return pc.equal(pc.list_value_length(t.column(S.HEURISTIC_FLAGS)), 0)

    dst = ctx.step_dir("filtered")
    stats = _split_step(ctx, ctx.step_dir("annotated"), dst, "heuristics", keep, first_flag)
    ctx.extra["kept"] = dst
    return stats


def _dedup_step(fn_name: str, step: str):
    def run(ctx: BuildContext) -> dict:
        import importlib

        module, func = fn_name.rsplit(".", 1)
        fn = getattr(importlib.import_module(module), func)
        src = _last_kept(ctx)
        small = count_rows(src) <= ctx.config.ray.small_input_rows
        ds = _read_table(src) if (ctx.local or small) else read_dir(ctx, src)
        settings = ctx.config.dedup.fuzzy if step == "fuzzy_dedup" else ctx.config.decontam
        work = ctx.work / f"{step}_work"
        if step == "exact_dedup":
            kept, removed, stats = fn(ds, work)
        elif step == "fuzzy_dedup":
            kept, removed, stats = fn(ds, settings, work)
        else:
            kept, removed, stats = fn(ds, settings)
        dst = ctx.step_dir(step)
        write_dataset(kept, dst, S.DOC_SCHEMA, ctx.config)
        if ctx.config.output.write_rejected and removed is not None:
            write_dataset(removed, ctx.rejected_dir(step), S.REJECTED_SCHEMA, ctx.config)
        n_in, n_out = count_rows(src), count_rows(dst)
        reasons = _reason_counts(ctx.rejected_dir(step)) if (ctx.config.output.write_rejected and removed is not None) else {}
        ctx.extra["kept"] = dst
        details = {k: v for k, v in (stats or {}).items() if k not in ("in", "out", "dropped")}
        return _stage_stats(n_in, n_out, reasons or ({step: n_in - n_out} if n_in != n_out else {}), **details)

    return run


def step_thresholds(ctx: BuildContext) -> dict:
    p1 = ctx.config.thresholds.phase1_min_score
    src = _last_kept(ctx)

    def keep(t: pa.Table) -> pa.Array:
        return pc.fill_null(pc.greater_equal(t.column(S.EDU_SCORE), p1), False)

    dst = ctx.step_dir("phase1")
    stats = _split_step(ctx, src, dst, "threshold", keep, f"edu_score < {p1}")
    ctx.extra["kept"] = dst
    return stats


def step_write_phases(ctx: BuildContext) -> dict:
    cfg = ctx.config
    src = ctx.step_dir("phase1")
    p2 = cfg.thresholds.phase2_min_score
    rows_per_file = _rows_per_file(src, cfg.output.target_file_mb)
    # a small phase 1 is re-chunked in the driver: a Ray Data write costs ~10 s fixed on 2 busy cores
    small = count_rows(src) <= cfg.ray.small_input_rows
    ds = _read_table(src) if (ctx.local or small) else read_dir(ctx, src)
    write_dataset(ds, ctx.out / "phase1", S.DOC_SCHEMA, cfg, rows_per_file)
    tmp_phase2 = ctx.work / "phase2_web"
    # phase 2's web part: the stricter subset of the (already sized) phase 1 files, file by file
    file_tasks(
        ctx,
        ctx.out / "phase1",
        lambda t: {"phase2": t.filter(pc.fill_null(pc.greater_equal(t.column(S.EDU_SCORE), p2), False))},
        {"phase2": (tmp_phase2, S.DOC_SCHEMA)},
    )
    synthetic = ctx.step_dir("synthetic")
    final2 = temp_dir_for(ctx.out / "phase2")
    final2.mkdir(parents=True)
    for i, f in enumerate(parquet_files(tmp_phase2)):
        shutil.copy2(f, final2 / f"part-{i:05d}.parquet")
    for i, f in enumerate(parquet_files(synthetic)):
        if pq.ParquetFile(f).metadata.num_rows:
            shutil.copy2(f, final2 / f"synthetic-{i:05d}.parquet")
    commit_dir(final2, ctx.out / "phase2", S.DOC_SCHEMA, rename_parts=False)
    # quarantine: one file per input shard, committed as a directory
    qtmp = temp_dir_for(ctx.out / "quarantine")
    qtmp.mkdir(parents=True)
    for f in parquet_files(ctx.work / "quarantine"):
        if pq.ParquetFile(f).metadata.num_rows:
            shutil.copy2(f, qtmp / f.name)
    commit_dir(qtmp, ctx.out / "quarantine", S.QUARANTINE_SCHEMA, rename_parts=False)
    n1, n2 = count_rows(ctx.out / "phase1"), count_rows(ctx.out / "phase2")
    return {"phase1_rows": n1, "phase2_rows": n2, "phase2_web_rows": count_rows(tmp_phase2), "rows_per_file": rows_per_file}


def _rows_per_file(src: Path, target_mb: float) -> int:
    files = parquet_files(src)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    size = sum(f.stat().st_size for f in files)
    if not rows:
        return 1
    return max(1, int(target_mb * 2**20 / max(1.0, size / rows)))


def _synthesis_enabled(c: BuildConfig) -> bool:
    return c.synthesis.enabled


def step_synthesis(ctx: BuildContext) -> dict:
    from pipelines.synthesis import run_synthesis_step

    return run_synthesis_step(ctx)


def step_tokens(ctx: BuildContext) -> dict:
    from pipelines.tokens import run_tokens_step  # n_tokens on _work/phase1 and _work/synthetic

    return run_tokens_step(ctx)


STEPS: list[Step] = [
    Step("ingest", step_ingest),
    Step("annotate", step_annotate),
    Step("heuristic_filter", step_heuristic_filter),
    Step("url_filter", web_steps.step_url_filter, web_steps.url_filter_enabled),
    Step("language_filter", web_steps.step_language_filter, web_steps.language_filter_enabled),
    Step("exact_dedup", _dedup_step("curator.dedup.exact.exact_dedup", "exact_dedup"), lambda c: c.dedup.exact),
    Step("fuzzy_dedup", _dedup_step("curator.dedup.fuzzy_dedup", "fuzzy_dedup"), lambda c: c.dedup.fuzzy.enabled),
    Step("decontam", _dedup_step("curator.decontam.decontaminate", "decontam"), lambda c: c.decontam.enabled),
    Step("thresholds", step_thresholds),
    Step("synthesis", step_synthesis, _synthesis_enabled),
    Step("tokens", step_tokens, lambda c: bool(c.tokens.tokenizer)),
    Step("write_phases", step_write_phases),
]


# --------------------------------------------------------------------------- driver


def _bar(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, unit="shard", leave=False)


def fault_point(name: str) -> None:
    """Fault injection for the resume tests: ``EDU_CURATOR_FAULT_KILL=<name>`` SIGKILLs the build here.

    Points: ``<step>:start``, ``<step>:committed`` (output committed, state not yet recorded) and
    ``ingest:shard`` (after each shard, local executor). Unset in normal runs.
    ``EDU_CURATOR_FAULT_PAUSE=<name>`` sleeps there instead (a test signals the build while it waits).
    """
    if os.environ.get("EDU_CURATOR_FAULT_KILL") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("EDU_CURATOR_FAULT_PAUSE") == name:
        print(f"fault point {name}: paused", file=sys.stderr, flush=True)
        time.sleep(120)


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {out}: {exc.strerror or exc}. Choose a writable --out with free space.") from exc
    free = shutil.disk_usage(out).free
    if free < 64 * 2**20:
        raise OutputError(f"only {free // 2**20} MiB free under {out}: free some space or choose another --out")


def run_build(config: BuildConfig, out: str | Path, overwrite: bool = False, progress: bool = True, log: Log = print) -> dict:
    """Run (or resume) a build into ``out``; return the manifest.

    Raises:
        ConfigError: ``out`` holds a build with another config and ``overwrite`` is false.
        OutputError: another live build holds ``out`` (its pid is named), or the disk is full.
        BuildStopped: SIGTERM/SIGINT arrived; what was committed is kept and a rerun resumes.
        InputError / ClusterError / ModelError: with a message saying what to do.
    """
    from pipelines.guards import output_lock, plain_errors, stop_on_signals

    out = Path(out).resolve()
    check_writable(out)
    with stop_on_signals(), output_lock(out), plain_errors(out, config.input.paths):
        return _run_build(config, out, overwrite, progress, log)


def _run_build(config: BuildConfig, out: Path, overwrite: bool, progress: bool, log: Log) -> dict:
    """:func:`run_build` under the output lock."""
    from pipelines.guards import install_signal_handlers, remove_stale_temp_dirs
    from pipelines.runtime import init_ray

    remove_stale_temp_dirs(out)  # a killed build's uncommitted step output (safe: we hold the lock)
    chash = config_hash(config)
    state = BuildState(out, chash, overwrite=overwrite)
    manifest_path = out / "manifest.json"
    steps = [s for s in STEPS if s.enabled(config)]
    if manifest_path.exists() and all(state.done(s.name) for s in steps):
        log(f"build in {out} is already complete (config {chash}); nothing to do")
        return json.loads(manifest_path.read_text())
    manifest_path.unlink(missing_ok=True)
    _check_model(config)
    expand_inputs(config.input.paths, config.input.format)  # fail fast on bad paths, before Ray starts
    check_files(config)  # benchmarks, blocklists, tokenizer path: before any step runs
    _warm_kernels(log)
    if config.ray.executor == "ray":
        init_ray(config.ray, progress=progress)
        install_signal_handlers()  # ray.init installs its own SIGTERM handler
    ctx = BuildContext(config=config, out=out, state=state, chash=chash, progress=progress, log=log)
    started = time.time()
    for step in steps:
        if step.name in ("exact_dedup", "fuzzy_dedup", "decontam", "url_filter", "language_filter", "heuristic_filter", "thresholds") and state.done(step.name):
            ctx.extra["kept"] = ctx.step_dir("phase1" if step.name == "thresholds" else ("filtered" if step.name == "heuristic_filter" else step.name))
            continue
        if state.done(step.name):
            continue
        log(f"[{step.name}] running")
        fault_point(f"{step.name}:start")
        t0 = time.time()
        stats = step.run(ctx)
        stats["seconds"] = round(time.time() - t0, 3)
        fault_point(f"{step.name}:committed")  # output committed, not yet recorded: the worst moment to die
        state.mark(step.name, stats)
        log(f"[{step.name}] done in {stats['seconds']:.1f}s: " + ", ".join(f"{k}={stats[k]}" for k in ("in", "out", "dropped") if k in stats))
    manifest = build_manifest(ctx, steps, time.time() - started)
    atomic_write_json(manifest, manifest_path)
    _write_report(out, manifest, log)
    return manifest


def _warm_kernels(log: Log) -> None:
    """Compile the text-hashing kernels once in the driver (cached on disk) before workers need them."""
    from curator.dedup.normalize import warm_up

    seconds = warm_up()
    if seconds > 2:
        log(f"compiled the text-hashing kernels in {seconds:.0f}s (numba; cached for later runs)")


def _check_model(config: BuildConfig) -> None:
    from classifiers import load_classifier

    load_classifier(config.classifier.model)  # fail fast, before Ray starts, with ModelError's advice


def _write_report(out: Path, manifest: dict, log: Log) -> None:
    from pipelines.report import write_report

    write_report(out, manifest)


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("edu-curator", "ray", "pyarrow", "fasttext-numpy2", "scikit-learn", "rensa"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def build_manifest(ctx: BuildContext, steps: list[Step], seconds: float) -> dict:
    from classifiers import load_classifier
    from curator.tokens import token_summary

    out = ctx.out
    clf = load_classifier(ctx.config.classifier.model)
    stages = []
    balanced = True
    for s in steps:
        st = dict(ctx.state.stats(s.name))
        if "in" in st:
            ok = st["in"] == st["out"] + st["dropped"] and (not st["reasons"] or sum(st["reasons"].values()) == st["dropped"])
            st["balanced"] = ok
            balanced &= ok
        stages.append({"name": s.name, **st})
    outputs = {}
    for name in ("phase1", "phase2", "quarantine"):
        files = [file_info(f, out) for f in parquet_files(out / name)]
        outputs[name] = {"rows": sum(f["rows"] for f in files), "files": files}
    rejected = {}
    for d in sorted((out / "rejected").glob("[!._]*")) if (out / "rejected").exists() else []:  # not temp dirs
        files = [file_info(f, out) for f in parquet_files(d)]
        rejected[d.name] = {"rows": sum(f["rows"] for f in files), "files": files}
    outputs["rejected"] = rejected
    q_reasons: Counter = Counter()
    for f in parquet_files(out / "quarantine"):
        q_reasons.update(pq.read_table(f, columns=[S.Q_REASON]).column(S.Q_REASON).to_pylist())
    return {
        "name": ctx.config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": ctx.chash,
        "config": ctx.config.model_dump(mode="json"),
        "versions": _versions(),
        "classifier": {"spec": ctx.config.classifier.model, "version": clf.version, "backend": clf.backend},
        "schema": [{"name": f.name, "type": str(f.type)} for f in S.DOC_SCHEMA],
        "stages": stages,
        "counts_balanced": balanced,
        "quarantine": {"total": sum(q_reasons.values()), "reasons": dict(q_reasons.most_common())},
        "outputs": outputs,
        "tokens": token_summary(out, ctx.config.mixture, ctx.config.tokens.tokenizer),
        "seconds": round(seconds, 3),
    }
