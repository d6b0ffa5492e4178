"""The fused row pass: consecutive row steps run as one pass per Parquet file (``ray.fuse_row_steps``).

Derived from the step list, not hand-written: :func:`fused_group` takes the longest run of pending
:class:`~pipelines.steps.base.RowStep` s that start at the runner's current step (annotate, heuristic_filter,
url_filter, language_filter, and any filter put among them; a row step that runs as a Ray Data job is not
fused). Each file is read once; each step's stages and filter are applied in order (the same slices of
``batch_rows`` as a pass per step, the kept rows conformed to the document schema between steps as a
Parquet round trip would); each step's dropped rows go to ``rejected/<step>/`` (same ``drop_stage`` and
reasons) and only the last step's kept rows are written, to ``_work/<last>/`` (the next step's input).
Intermediate steps write no ``_work/<step>/``.

Counts are those of a pass per step (rows in and out of each step, summed over files; reasons read back
from ``rejected/<step>/``), and every step keeps its manifest entry. The group is ONE resume unit: its
outputs are committed, then all its steps are recorded in one write of the build state, so a build killed
anywhere inside reruns the whole group from its input and ends with identical output. Fault points: each
step's ``<step>:start`` before the pass, ``row_pass:file`` after each file (local executor), each step's
``<step>:committed`` after the commit.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator import schema as S
from curator.settings import BuildConfig
from pipelines.context import BuildContext, fault_point
from pipelines.cost import StepMeter, cost_entry, dir_bytes
from pipelines.steps.base import RowStep, _cached, apply_stages, reason_counts, stage_stats


def fusable(step, config: BuildConfig, local: bool) -> bool:
    """Whether ``step`` can join a fused pass: a row step that does not run as a Ray Data job."""
    return isinstance(step, RowStep) and not step.ray_data_job(config, local)


def fused_group(steps: list, start: int, ctx: BuildContext) -> list[RowStep]:
    """The pending row steps from ``steps[start]`` on that run as one pass (fewer than 2: none)."""
    if not ctx.config.ray.fuse_row_steps:
        return []
    group = []
    for step in steps[start:]:
        if not fusable(step, ctx.config, ctx.local) or ctx.state.done(step.name):
            break
        group.append(step)
    return group if len(group) >= 2 else []


def fused_groups(steps: list, config: BuildConfig, local: bool) -> list[list]:
    """Every run of steps that a build from scratch fuses (what the dry run estimates as one pass each)."""
    if not config.ray.fuse_row_steps:
        return []
    groups: list[list] = [[]]
    for step in steps:
        if fusable(step, config, local):
            groups[-1].append(step)
        elif groups[-1]:
            groups.append([])
    return [g for g in groups if len(g) >= 2]


class _FusedFile:
    """The per-file body of a fused pass (picklable): every step's stages and filter, in order."""

    def __init__(self, parts: list[tuple]) -> None:
        self.parts = parts  # (cache key, name, stages, filter, batch_rows) per step

    def __call__(self, table: pa.Table) -> dict:
        import time

        result: dict = {}
        counts, cpu = {}, {}
        for i, (key, name, stages, flt, batch_rows) in enumerate(self.parts):
            t0 = time.process_time()
            if i:
                table = S.conform(table, S.DOC_SCHEMA)  # what the next step of a pass per step would read
            stages, flt = _cached(key, lambda s=stages, f=flt: [s, f])
            n_in = table.num_rows
            table = apply_stages(table, stages, batch_rows)
            if flt is not None:
                table, dropped = flt.split(table, name)
                result[f"dropped:{name}"] = dropped
            counts[name] = (n_in, table.num_rows)
            cpu[name] = time.process_time() - t0
            if not table.num_rows:  # a pass per step would not see this file again
                break
        result["kept"] = table
        result["info"] = {"counts": counts, "cpu": cpu}
        return result


def run_fused(ctx: BuildContext, group: list[RowStep], src: Path) -> dict[str, dict]:
    """Run ``group`` as one pass over ``src``; return each step's stats (with its ``cost``)."""
    from pipelines.executor import file_tasks

    for step in group:
        ctx.log(f"[{step.name}] running (fused row pass: {', '.join(s.name for s in group)})")
        fault_point(f"{step.name}:start")
    meter = StepMeter(ctx)
    write_rejected = ctx.config.output.write_rejected
    parts, filters, outputs = [], {}, {}
    for step in group:
        stages, flt = step.instances(ctx.config)
        parts.append((step.cache_key(ctx), step.name, stages, flt, step.batch_rows))
        filters[step.name] = flt
        if flt is not None and write_rejected:
            outputs[f"dropped:{step.name}"] = (ctx.rejected_dir(step.name), S.REJECTED_SCHEMA)
    last = group[-1].name
    outputs["kept"] = (ctx.step_dir(last), S.DOC_SCHEMA)
    num_cpus = max(s.task_cpus for s in group)
    after = (lambda n: fault_point("row_pass:file")) if ctx.local else None
    infos = file_tasks(ctx, src, _FusedFile(parts), outputs, num_cpus=num_cpus, after_file=after)

    rows = {s.name: [0, 0] for s in group}
    weight = {s.name: 0.0 for s in group}
    first = group[0].name
    for f in infos:
        info = f["info"]
        step_cpu = sum(info["cpu"].values())
        weight[first] += max(f["cpu"] - step_cpu, 0.0)  # reading the file
        for name, (n_in, n_out) in info["counts"].items():
            rows[name][0] += n_in
            rows[name][1] += n_out
            weight[name] += info["cpu"][name] + f["write_cpu"].get(f"dropped:{name}", 0.0)
        weight[last] += f["write_cpu"].get("kept", 0.0)
    total = sum(weight.values())
    share = {n: (w / total if total > 0 else 1 / len(group)) for n, w in weight.items()}
    wall, driver, tasks = meter.wall(), meter.driver_cpu(), meter.tasks_cpu()

    results = {}
    for step in group:
        flt = filters[step.name]
        n_in, n_out = rows[step.name]
        if flt is None:
            stats = stage_stats(n_in, n_out)
        else:
            reasons = reason_counts(ctx.rejected_dir(step.name)) if write_rejected else {}
            if not reasons and n_in != n_out:
                reasons = {step.name: n_in - n_out}
            stats = stage_stats(n_in, n_out, reasons, **flt.stats())
        k = share[step.name]
        read = dir_bytes([src]) if step.name == first else 0
        cost = cost_entry(wall * k, driver * k, tasks * k, stats, read, dir_bytes(step.writes(ctx)))
        stats["cost"] = {**cost, "fused": True, "fused_with": [s.name for s in group]}
        stats["seconds"] = cost["wall_s"]
        results[step.name] = stats
    for step in group:
        fault_point(f"{step.name}:committed")  # outputs committed, not yet recorded
    return results
