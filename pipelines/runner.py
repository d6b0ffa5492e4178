"""Running a step list: checks before Ray starts, then each step in order, resumable.

A step's input is the output of the previous step that produces documents
(:func:`pipelines.steps.base.inputs`), so a resumed build needs no bookkeeping beyond which steps are
done (:class:`~pipelines.state.BuildState`); the manifest is written last, atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from curator.exceptions import OutputError
from curator.readers import expand_inputs
from curator.settings import BuildConfig, check_files, config_hash
from curator.writers import atomic_write_json
from pipelines.context import BuildContext, Log, fault_point
from pipelines.cost import StepMeter
from pipelines.fused import fused_group, run_fused
from pipelines.state import BuildState
from pipelines.steps.base import Step, check_names, inputs


def enabled_steps(steps: list[Step], config: BuildConfig) -> list[Step]:
    """The steps ``config`` runs, in order (names checked: they name directories and ``drop_stage``)."""
    check_names(steps)
    return [s for s in steps if s.enabled(config)]


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"cannot write to output directory {out}: {exc.strerror or exc}. Choose a writable --out with free space."
        ) from exc
    free = shutil.disk_usage(out).free
    if free < 64 * 2**20:
        raise OutputError(f"only {free // 2**20} MiB free under {out}: free some space or choose another --out")


def run_steps(
    all_steps: list[Step],
    config: BuildConfig,
    out: Path,
    overwrite: bool,
    progress: bool,
    log: Log,
    release_ray: bool = False,
) -> dict:
    """Run (or resume) ``all_steps`` into ``out`` (under the output lock); return the manifest.

    ``release_ray``: shut down a Ray this build started once the steps are done, while the manifest and report
    are written (for a process that ends with the build: the CLI)."""
    from pipelines.guards import install_signal_handlers, remove_stale_temp_dirs
    from pipelines.manifest import build_manifest
    from pipelines.runtime import init_ray, ray_is_up, stop_ray_in_background

    remove_stale_temp_dirs(out)  # a killed build's uncommitted step output (safe: we hold the lock)
    chash = config_hash(config)
    state = BuildState(out, chash, overwrite=overwrite)
    manifest_path = out / "manifest.json"
    steps = enabled_steps(all_steps, config)
    if manifest_path.exists() and all(state.done(s.name) for s in steps):
        log(f"build in {out} is already complete (config {chash}); nothing to do")
        return json.loads(manifest_path.read_text())
    manifest_path.unlink(missing_ok=True)
    _check_model(config)
    expand_inputs(config.input.paths, config.input.format)  # fail fast on bad paths, before Ray starts
    check_files(config)  # benchmarks, blocklists, tokenizer path: before any step runs
    _warm_kernels(log)
    started_ray = False
    if config.ray.executor == "ray":
        started_ray = not ray_is_up()
        init_ray(config.ray, progress=progress)
        install_signal_handlers()  # ray.init installs its own SIGTERM handler
    ctx = BuildContext(config=config, out=out, state=state, chash=chash, progress=progress, log=log, steps=steps)
    source = inputs(steps)
    started = time.time()
    for i, step in enumerate(steps):
        if state.done(step.name):
            continue
        group = fused_group(steps, i, ctx)
        if group:  # one pass per file for the group; recorded at once (one resume unit)
            src = ctx.step_dir(source[step.name]) if source[step.name] else None
            assert src is not None, f"row step {step.name!r} needs an input"
            results = run_fused(ctx, group, src)
            state.mark_many(results)
            for name, stats in results.items():
                counts = ", ".join(f"{k}={stats[k]}" for k in ("in", "out", "dropped") if k in stats)
                log(f"[{name}] done in {stats['seconds']:.1f}s (fused): " + counts)
            continue
        log(f"[{step.name}] running")
        fault_point(f"{step.name}:start")
        meter = StepMeter(ctx)
        src = ctx.step_dir(source[step.name]) if source[step.name] else None
        stats = step.run(ctx, src)
        stats["cost"] = meter.finish(stats, step.reads(ctx, src), step.writes(ctx))
        stats["seconds"] = stats["cost"]["wall_s"]
        fault_point(f"{step.name}:committed")  # output committed, not yet recorded: the worst moment to die
        state.mark(step.name, stats)
        counts = ", ".join(f"{k}={stats[k]}" for k in ("in", "out", "dropped") if k in stats)
        log(f"[{step.name}] done in {stats['seconds']:.1f}s: " + counts)
    stopping = stop_ray_in_background() if release_ray and started_ray else None
    manifest = build_manifest(ctx, steps, time.time() - started)
    atomic_write_json(manifest, manifest_path)
    from pipelines.report import write_report

    write_report(out, manifest)
    if stopping is not None:
        stopping.join()
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
