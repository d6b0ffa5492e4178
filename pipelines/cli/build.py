"""`curator build`: run or resume a corpus build, and print its summary table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from curator.exceptions import BuildStopped, CuratorError
from pipelines.cli.root import app, exit_without_teardown

console = Console(stderr=True)


@app.command("build")
def build(
    config: Path | None = typer.Argument(None, help="Build config (YAML). Omit to build the built-in demo corpus."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output directory (phase1/, phase2/, rejected/, quarantine/, manifest.json)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Discard an existing build in --out made with another config."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (`auto` or host:port); overrides ray.address."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Estimate documents, bytes, time and memory per stage, then stop."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
) -> None:
    """Build phase-1 and phase-2 corpora from web shards (resumable: rerun the same command after a crash)."""
    from curator.settings import load_config

    try:
        overrides: dict = {}
        if address is not None:
            overrides["ray"] = {"address": address}
        cfg = load_config(config, overrides)
        if config is None:
            from curator.demo import demo_config

            demo_dir = out / "_demo_input"
            cfg = demo_config(demo_dir, **overrides)
            console.print(f"[bold]demo build[/]: {len(cfg.input.paths)} generated shards in {demo_dir}")
        if dry_run:
            from pipelines.dry_run import estimate

            table = estimate(cfg)
            console.print(table)
            return
        from pipelines.build import run_build

        manifest = run_build(
            cfg,
            out,
            overwrite=overwrite,
            progress=not no_progress,
            log=lambda m: console.print(m, highlight=False, markup=False, soft_wrap=True),  # one line per message
            release_ray=True,  # this process ends with the build: Ray stops while the report is written
        )
    except BuildStopped as exc:  # SIGTERM/SIGINT: committed work is kept
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(code=128 + exc.signum) from None
    except CuratorError as exc:
        console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    print_summary(manifest, out)
    from pipelines.runtime import ray_is_up

    if not ray_is_up():  # the build released the Ray it started (or never started one): nothing left to tear down
        exit_without_teardown()


def print_summary(manifest: dict, out: Path) -> None:
    table = Table(title=f"build {manifest['name']} (config {manifest['config_hash']})")
    for col in ("stage", "in", "kept", "dropped", "top reasons", "seconds"):
        table.add_column(col, justify="right" if col not in ("stage", "top reasons") else "left")
    for st in manifest["stages"]:
        if "in" not in st:
            continue
        reasons = ", ".join(f"{k}: {v}" for k, v in list(st.get("reasons", {}).items())[:3])
        table.add_row(
            st["name"], str(st["in"]), str(st["out"]), str(st["dropped"]), reasons, f"{st.get('seconds', 0):.1f}"
        )
    Console().print(table)
    o = manifest["outputs"]
    Console().print(
        f"phase1: {o['phase1']['rows']} docs, phase2: {o['phase2']['rows']} docs, "
        f"quarantined: {manifest['quarantine']['total']} "
        f"-> {out.resolve()}  (counts balanced: {manifest['counts_balanced']})"
    )
