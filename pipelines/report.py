"""The build report: ``OUT/report/`` with PNG plots and a ``report.md`` summary, written after the manifest.

Plots (matplotlib, Agg canvas, no global pyplot state):

* ``funnel.png``: documents left after each stage, from input records to the phase-2 corpus;
* ``scores.png``: educational score histogram, kept (phase 1) vs dropped after scoring;
* ``lengths.png``: characters and words per document, kept vs dropped (every stage);
* ``reasons.png``: documents per drop reason (``stage: reason``) and quarantine reason;
* ``cost.png``: wall and CPU seconds per step (the manifest's ``cost``, :mod:`pipelines.cost`).

``report.md`` holds the summary table, the outputs, the top drop reasons with examples, and one
sample per score bucket. The directory is written under a temporary name and renamed into
place, so a reader never sees half a report; the manifest is written before it, so a report
failure never loses the built corpus.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.writers import temp_dir_for
from pipelines import build_outputs as B

KEPT_COLOR = "#2a9d8f"
DROPPED_COLOR = "#e76f51"
PLOTS = ("funnel.png", "scores.png", "lengths.png", "reasons.png", "cost.png")


def _figure(width: float, height: float, left: float = 0.1, bottom: float = 0.12):
    """An Agg figure with fixed margins (no tight_layout: it draws every figure twice)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left, right=0.97, bottom=max(bottom, 0.55 / height), top=1 - 0.45 / height, wspace=0.25)
    return fig


def plot_funnel(manifest: dict, ax) -> None:
    rows = B.funnel(manifest)
    labels = [r[0] for r in rows][::-1]
    values = [r[1] for r in rows][::-1]
    bars = ax.barh(labels, values, color=KEPT_COLOR)
    top = max(values) if values else 1
    for b, v in zip(bars, values):
        ax.text(b.get_width() + top * 0.01, b.get_y() + b.get_height() / 2, f"{v:,}", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15 if top else 1)
    ax.set_xlabel("documents")
    ax.set_title("documents after each stage")


def plot_scores(kept_scores: np.ndarray, dropped_scores: np.ndarray, ax, thresholds: dict | None = None) -> None:
    bins = np.linspace(0, 5, 41)
    ax.hist(
        [kept_scores, dropped_scores],
        bins=bins,
        stacked=True,
        color=[KEPT_COLOR, DROPPED_COLOR],
        label=[f"kept ({len(kept_scores):,})", f"dropped after scoring ({len(dropped_scores):,})"],
    )
    for key, style in (("phase1_min_score", "--"), ("phase2_min_score", ":")):
        if thresholds and key in thresholds:
            ax.axvline(
                thresholds[key],
                color="black",
                linestyle=style,
                linewidth=1,
                label=f"{key.split('_')[0]} threshold {thresholds[key]}",
            )
    ax.set_xlabel("edu_score")
    ax.set_ylabel("documents")
    ax.set_title("educational score, kept vs dropped")
    ax.legend(fontsize=8)


def plot_lengths(kept_t: pa.Table, dropped_t: pa.Table, axes) -> None:
    for ax, col in zip(axes, (S.N_CHARS, S.N_WORDS)):
        k = _finite(kept_t.column(col))
        d = _finite(dropped_t.column(col))
        allv = np.concatenate([k, d])
        hi = max(10.0, float(allv.max()) if len(allv) else 10.0)
        bins = np.logspace(0, np.log10(hi + 1), 40)
        ax.hist(
            [k + 1, d + 1],
            bins=bins,
            color=[KEPT_COLOR, DROPPED_COLOR],
            label=["kept", "dropped"],
            histtype="stepfilled",
            alpha=0.6,
        )
        ax.set_xscale("log")
        ax.set_xlabel(f"{col} (+1, log scale)")
        ax.set_ylabel("documents")
        ax.set_title(f"{col}, kept vs dropped")
        ax.legend(fontsize=8)


def plot_reasons(manifest: dict, ax, top: int = 15) -> None:
    rows = [(f"{st}: {r}", n) for st, r, n in B.drop_reasons(manifest)][:top]
    rows.sort(key=lambda r: r[1])
    if not rows:
        ax.text(0.5, 0.5, "nothing was dropped", ha="center", va="center")
        ax.set_axis_off()
        return
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=DROPPED_COLOR)
    ax.set_xlabel("documents")
    ax.set_title("drop reasons")


def plot_cost(manifest: dict, ax) -> None:
    """Wall and CPU seconds per step, steps top to bottom."""
    rows = [(st["name"], st["cost"]) for st in manifest["stages"] if "cost" in st][::-1]
    if not rows:
        ax.text(0.5, 0.5, "no cost figures", ha="center", va="center")
        ax.set_axis_off()
        return
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [c["wall_s"] for _, c in rows], height=0.4, color=KEPT_COLOR, label="wall s")
    ax.barh(y - 0.2, [c["cpu_s"] for _, c in rows], height=0.4, color=DROPPED_COLOR, label="CPU s (driver + tasks)")
    ax.set_yticks(y, [n for n, _ in rows])
    ax.set_xlabel("seconds")
    ax.set_title("where the time goes")
    ax.legend(fontsize=8)


def cost_rows(manifest: dict) -> list[list]:
    """The rows of the report's cost table: one per step with a ``cost`` entry."""
    rows = []
    for st in manifest["stages"]:
        c = st.get("cost")
        if not c:
            continue
        rows.append(
            [
                st["name"] + (" (fused)" if c.get("fused") else ""),
                f"{c['wall_s']:.2f}",
                f"{c['cpu_s']:.2f}",
                f"{c['cpu_driver_s']:.2f}",
                f"{c['cpu_tasks_s']:.2f}",
                f"{c['rows_in']:,}",
                f"{c['rows_out']:,}",
                f"{c['rows_per_s']:,.0f}",
                f"{c['bytes_read'] / 2**20:.2f}",
                f"{c['bytes_written'] / 2**20:.2f}",
            ]
        )
    return rows


COST_HEADER = [
    "step",
    "wall s",
    "CPU s",
    "driver CPU s",
    "task CPU s",
    "rows in",
    "rows out",
    "rows/s",
    "MiB read",
    "MiB written",
]


def _finite(col) -> np.ndarray:
    arr = col.to_numpy(zero_copy_only=False) if len(col) else np.zeros(0)
    arr = np.asarray(arr, dtype=float)
    return arr[np.isfinite(arr)]


def _md_table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(
    manifest: dict, dropped_t: pa.Table, samples_t: pa.Table, texts=None, examples_per_reason: int = 2, seed: int = 0
) -> str:
    """The text of ``report.md``.

    ``dropped_t`` and ``samples_t`` need no ``text`` column when ``texts(rows) -> list[str]`` gives the texts of
    the few sampled rows (the report reads no other text); without ``texts`` the rows' own ``text`` is used.
    """
    o = manifest["outputs"]
    parts = [
        f"# Build report: {manifest['name']}",
        "",
        f"- created: {manifest.get('created', '')}, config hash `{manifest.get('config_hash', '')}`, "
        f"classifier `{manifest.get('classifier', {}).get('version', '')}`",
        f"- total time: {manifest.get('seconds', 0):.1f} s; counts balanced: {manifest.get('counts_balanced')}",
        f"- phase 1: **{o['phase1']['rows']:,}** documents; phase 2: **{o['phase2']['rows']:,}** documents; "
        f"quarantined input: **{manifest['quarantine']['total']:,}**",
        "",
        "## Stages",
        "",
    ]
    rows = []
    for st in manifest["stages"]:
        if "in" not in st:
            continue
        reasons = ", ".join(f"{k}: {v}" for k, v in list((st.get("reasons") or {}).items())[:3])
        rows.append(
            [
                st["name"],
                f"{st['in']:,}",
                f"{st['out']:,}",
                f"{st['dropped']:,}",
                reasons,
                f"{st.get('seconds', 0):.1f}",
            ]
        )
    parts += [_md_table(["stage", "in", "kept", "dropped", "top reasons", "seconds"], rows), ""]
    parts += ["## Where the time goes", ""]
    parts += [_md_table(COST_HEADER, cost_rows(manifest)), ""]
    parts += ["## Outputs", ""]
    out_rows = [[name, f"{o[name]['rows']:,}", len(o[name]["files"])] for name in ("phase1", "phase2", "quarantine")]
    out_rows += [[f"rejected/{k}", f"{v['rows']:,}", len(v["files"])] for k, v in o.get("rejected", {}).items()]
    parts += [_md_table(["output", "rows", "files"], out_rows), ""]
    parts += ["## Plots", ""] + [f"![{p[:-4]}]({p})" for p in PLOTS] + [""]
    parts += ["## Top drop reasons", ""]
    reasons = B.drop_reasons(manifest)
    parts += [_md_table(["stage", "reason", "documents"], [[s, r, f"{n:,}"] for s, r, n in reasons]), ""]

    # the sampled rows first, then their texts in one read
    examples = []
    for stage, reason, _ in reasons[:10]:
        mask = pc.fill_null(pc.equal(dropped_t.column(S.DROP_REASON), reason), False)
        ex = B.sample(dropped_t.filter(mask), examples_per_reason, seed).to_pylist()
        if stage != "quarantine" and ex:  # quarantined input is no document (see OUT/quarantine/)
            examples.append((stage, reason, ex))
    buckets = []
    for bucket in range(6):
        t = samples_t.filter(pc.fill_null(pc.equal(samples_t.column(S.EDU_INT_SCORE), bucket), False))
        buckets.append((bucket, B.sample(t, 1, seed).to_pylist()))
    sampled = [r for _, _, ex in examples for r in ex] + [r for _, ex in buckets for r in ex]
    found = texts(sampled) if texts is not None else [r[S.TEXT] for r in sampled]
    text = {id(r): t for r, t in zip(sampled, found)}

    for stage, reason, ex in examples:
        parts += [f"### {stage}: {reason}", ""]
        for r in ex:
            extra = f" (kept instead: `{r[S.KEPT_ID]}`)" if r.get(S.KEPT_ID) else ""
            parts.append(f"- `{r[S.ID]}`{extra}: {B.shorten(text[id(r)], 240)}")
        parts.append("")
    parts += ["## One sample per score bucket", ""]
    for bucket, ex in buckets:
        if ex:
            r = ex[0]
            parts.append(f"- **{bucket}** `{r[S.ID]}` (score {r[S.EDU_SCORE]:.2f}): {B.shorten(text[id(r)], 240)}")
        else:
            parts.append(f"- **{bucket}**: no documents")
    parts.append("")
    return "\n".join(parts)


def _texts_at(files: list[Path], rows: list[dict]) -> list[str]:
    """The ``text`` of each located row, reading only the row groups that hold them."""
    want: dict[int, set[int]] = {}
    for r in rows:
        want.setdefault(r[B.FILE], set()).add(r[B.ROW])
    found: dict[tuple[int, int], str] = {}
    for fi, wanted_rows in want.items():
        pf = pq.ParquetFile(files[fi])
        start = 0
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            hit = sorted(x for x in wanted_rows if start <= x < start + n)
            if hit:
                col = pf.read_row_group(g, columns=[S.TEXT]).column(0)
                for x in hit:
                    found[(fi, x)] = col[x - start].as_py() or ""
            start += n
    return [found.get((r[B.FILE], r[B.ROW]), "") for r in rows]


def write_report(out: Path, manifest: dict) -> Path:
    """Write ``OUT/report/`` (plots and ``report.md``) for the finished build in ``out``; return its path.

    Reads the numeric columns of phase 1 and of every rejected document, and the text of the sampled ones only.
    """
    out = Path(out)
    final = out / "report"
    tmp = temp_dir_for(final)
    tmp.mkdir(parents=True)
    try:
        cols = [S.ID, S.N_CHARS, S.N_WORDS, S.EDU_SCORE, S.EDU_INT_SCORE]
        kept_files, dropped_files = B.kept_files(out), B.dropped_files(out)
        kept_t = B.read_files(kept_files, cols, S.DOC_SCHEMA, locate_from=0)
        dropped_t = B.read_files(dropped_files, cols + B.DROP_COLUMNS, S.REJECTED_SCHEMA, locate_from=len(kept_files))
        scored_dropped = dropped_t.filter(pc.is_valid(dropped_t.column(S.EDU_SCORE)))
        thresholds = manifest.get("config", {}).get("thresholds", {})

        fig = _figure(8, 0.45 * len(B.funnel(manifest)) + 1.5, left=0.22)
        plot_funnel(manifest, fig.add_subplot(1, 1, 1))
        _save(fig, tmp / "funnel.png")

        fig = _figure(8, 4.5)
        plot_scores(
            _finite(kept_t.column(S.EDU_SCORE)),
            _finite(scored_dropped.column(S.EDU_SCORE)),
            fig.add_subplot(1, 1, 1),
            thresholds,
        )
        _save(fig, tmp / "scores.png")

        fig = _figure(12, 4.5)
        plot_lengths(kept_t, dropped_t, [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)])
        _save(fig, tmp / "lengths.png")

        n_reasons = len(B.drop_reasons(manifest))
        fig = _figure(9, 0.35 * min(15, max(1, n_reasons)) + 1.5, left=0.4)
        plot_reasons(manifest, fig.add_subplot(1, 1, 1))
        _save(fig, tmp / "reasons.png")

        fig = _figure(8, 0.45 * max(1, len(manifest["stages"])) + 1.5, left=0.22)
        plot_cost(manifest, fig.add_subplot(1, 1, 1))
        _save(fig, tmp / "cost.png")

        samples_t = pa.concat_tables([kept_t, scored_dropped.select(kept_t.column_names)])
        files = kept_files + dropped_files
        md = render_markdown(manifest, dropped_t, samples_t, texts=lambda rows: _texts_at(files, rows))
        (tmp / "report.md").write_text(md, encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png")
