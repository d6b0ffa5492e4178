"""`curator inspect`: a finished build's summary table in the terminal, and samples of what it kept and dropped."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from curator import schema as S
from curator.exceptions import CuratorError
from pipelines.cli.root import app


@app.command("inspect")
def inspect(
    out: Path = typer.Argument(..., help="A build's output directory (holds manifest.json)."),
    bucket: int | None = typer.Option(
        None, "--bucket", min=0, max=5, help="Print random documents whose integer edu score is this bucket (0-5)."
    ),
    dropped_by: str | None = typer.Option(
        None,
        "--dropped-by",
        help="Print random documents dropped by this reason or stage (too_few_words, exact_duplicate, fuzzy_dedup).",
    ),
    search: str | None = typer.Option(
        None, "--search", help="Print documents (kept and dropped) containing this text (case-insensitive)."
    ),
    n: int = typer.Option(5, "--n", "-n", min=1, help="How many documents to print."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random samples."),
    width: int = typer.Option(400, "--width", min=20, help="Characters of each document's text to print."),
) -> None:
    """Print a build's per-stage counts, drop reasons and outputs;
    optionally samples by score bucket, drop reason or text."""
    from pipelines import build_outputs as B

    console = Console()
    try:
        manifest = B.load_manifest(out)
    except CuratorError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    print_overview(console, manifest, out)
    if bucket is not None:
        _print_docs(
            console,
            f"score bucket {bucket}: {n} random documents (seed {seed})",
            B.bucket_samples(out, bucket, n, seed).to_pylist(),
            width,
        )
    if dropped_by is not None:
        rows = B.dropped_by(out, dropped_by, n, seed).to_pylist()
        known = sorted({r for _, r, _ in B.drop_reasons(manifest, quarantine=False)} | set(B.rejected_stages(out)))
        if rows:
            _print_docs(console, f"dropped by {dropped_by}: {n} random documents (seed {seed})", rows, width)
        else:
            console.print(
                f"no document was dropped by {dropped_by!r}; reasons and stages of this build: {', '.join(known)}",
                highlight=False,
            )
    if search is not None:
        _print_docs(
            console,
            f"documents containing {search!r} (first {n})",
            B.search(out, search, n).to_pylist(),
            width,
            around=search,
        )


def print_overview(console: Console, manifest: dict, out: Path) -> None:
    """The per-stage table, outputs and top drop reasons of ``manifest``."""
    from pipelines import build_outputs as B

    table = Table(
        title=f"build {manifest['name']} (config {manifest['config_hash']}, {manifest.get('seconds', 0):.0f} s)"
    )
    for col in ("stage", "in", "kept", "dropped", "kept %", "top reasons", "seconds"):
        table.add_column(col, justify="left" if col in ("stage", "top reasons") else "right")
    for st in manifest["stages"]:
        if "in" not in st:
            continue
        pct = f"{100 * st['out'] / st['in']:.1f}" if st["in"] else "-"
        reasons = ", ".join(f"{k}: {v}" for k, v in list((st.get("reasons") or {}).items())[:3])
        table.add_row(
            st["name"], str(st["in"]), str(st["out"]), str(st["dropped"]), pct, reasons, f"{st.get('seconds', 0):.1f}"
        )
    console.print(table)
    o = manifest["outputs"]
    outputs = Table(title="outputs")
    outputs.add_column("output")
    outputs.add_column("rows", justify="right")
    outputs.add_column("files", justify="right")
    for name in ("phase1", "phase2", "quarantine"):
        outputs.add_row(name, str(o[name]["rows"]), str(len(o[name]["files"])))
    for name, v in o.get("rejected", {}).items():
        outputs.add_row(f"rejected/{name}", str(v["rows"]), str(len(v["files"])))
    console.print(outputs)
    reasons = Table(title="drop reasons")
    for col in ("stage", "reason", "documents"):
        reasons.add_column(col, justify="right" if col == "documents" else "left")
    for stage, reason, count in B.drop_reasons(manifest):
        reasons.add_row(stage, reason, str(count))
    console.print(reasons)
    console.print(
        f"counts balanced: {manifest.get('counts_balanced')}; report: {Path(out) / 'report' / 'report.md'}",
        highlight=False,
    )


def _print_docs(console: Console, title: str, rows: list[dict], width: int, around: str | None = None) -> None:
    from pipelines.build_outputs import shorten

    if not rows:
        console.print(f"{title}: none", highlight=False)
        return
    table = Table(title=title, show_lines=True)
    table.add_column("id", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("words", justify="right")
    table.add_column("dropped by")
    table.add_column("text", overflow="fold", ratio=1)
    for r in rows:
        score = r.get(S.EDU_SCORE)
        where = ": ".join(x for x in (r.get(S.DROP_STAGE), r.get(S.DROP_REASON)) if x) or "kept"
        table.add_row(
            str(r[S.ID]),
            "-" if score is None else f"{score:.2f}",
            str(r.get(S.N_WORDS) or "-"),
            where,
            shorten(r.get(S.TEXT), width, around),
        )
    console.print(table)
