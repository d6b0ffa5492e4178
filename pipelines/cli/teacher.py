"""`curator annotate`, `curator synthesize`, `curator make-tiny-model`: the teacher LLM commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from curator.exceptions import CuratorError
from pipelines.cli.root import app

console = Console(stderr=True)


def _teacher_settings(
    config: Path | None,
    base_url: str | None,
    model: str | None,
    mode: str | None,
    max_tokens: int | None,
    concurrency: int | None,
    timeout_s: float | None,
    temperature: float | None,
):
    from curator.settings import load_config

    teacher: dict = {}
    for key, val in (
        ("base_url", base_url),
        ("model", model),
        ("mode", mode),
        ("max_tokens", max_tokens),
        ("max_concurrency", concurrency),
        ("timeout_s", timeout_s),
        ("temperature", temperature),
    ):
        if val is not None:
            teacher[key] = val
    return load_config(config, {"synthesis": {"teacher": teacher}} if teacher else None)


def _default_cache(out: Path) -> Path:
    return out.parent / "_cache" / "teacher"


@app.command("annotate")
def annotate(
    inputs: list[str] = typer.Argument(
        ..., help="JSONL / Parquet files, directories or globs (documents with id and text)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output Parquet: text, score (0-5), justification, prompt_hash, teacher_model."
    ),
    sample: int | None = typer.Option(
        None, "--sample", "-n", help="Annotate this many randomly sampled documents (default: all)."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Build config; its synthesis.teacher section says how to reach the teacher."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible server URL (e.g. http://127.0.0.1:8000/v1)."
    ),
    model: str | None = typer.Option(None, "--model", help="Served model name (server) or model path (engine)."),
    mode: str | None = typer.Option(
        None, "--mode", help="`server` (OpenAI-compatible endpoint) or `engine` (in-process vLLM)."
    ),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Token budget of one answer."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Requests in flight at once (server)."),
    timeout_s: float | None = typer.Option(None, "--timeout", help="Per-request timeout in seconds (server)."),
    max_doc_chars: int = typer.Option(
        4000, "--max-doc-chars", help="Documents are cut to this many characters in the prompt."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Response cache (default: OUT's folder/_cache/teacher); reruns only ask for what is missing.",
    ),
    fmt: str = typer.Option("auto", "--format", help="Input format: auto, jsonl, parquet, hf."),
) -> None:
    """Label documents with the teacher's additive 0-5 educational score
    (input for `curator train-classifier --label-field score`)."""
    from generators import make_teacher
    from generators.annotate import annotate_files
    from generators.base import SamplingParams

    try:
        cfg = _teacher_settings(config, base_url, model, mode, None, concurrency, timeout_s, None)
        client = make_teacher(cfg.synthesis.teacher)
        try:
            stats = annotate_files(
                inputs,
                out,
                client,
                cache_dir or _default_cache(out),
                sample=sample,
                seed=seed,
                sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens),
                max_doc_chars=max_doc_chars,
                fmt=fmt,
            )
            stats["teacher"] = dict(client.stats)
        finally:
            client.close()
    except CuratorError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    _report(stats, f"annotated {stats['rows']} documents -> {out}")


def _report(stats: dict, done: str) -> None:
    """A teacher run's summary line and JSON stats; exit 1 (rerun to retry) when some prompts failed."""
    console.print(f"{done} (cached {stats['cached']}, generated {stats['generated']}, failed {stats['failed']})")
    print(json.dumps(stats))
    if stats["failed"]:
        console.print(
            "[yellow]some prompts failed (recorded in the cache); rerun the same command to retry only those[/]"
        )
        raise typer.Exit(code=1)


@app.command("synthesize")
def synthesize(
    seeds: Path = typer.Argument(
        ..., help="Parquet file or directory of filtered documents (id, text, edu_score), e.g. OUT/phase1."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output Parquet of synthetic documents (DOC_SCHEMA, with provenance)."
    ),
    num_samples: int | None = typer.Option(
        None, "--num-samples", "-n", help="Synthetic documents to request (default: synthesis.num_samples)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed for seed/template/audience sampling (default: synthesis.seed)."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Build config; its synthesis section sets templates, routing and the teacher."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    model: str | None = typer.Option(None, "--model", help="Served model name (server) or model path (engine)."),
    mode: str | None = typer.Option(None, "--mode", help="`server` or `engine`."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Token budget of one synthetic document."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Requests in flight at once (server)."),
    timeout_s: float | None = typer.Option(None, "--timeout", help="Per-request timeout in seconds (server)."),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Response cache (default: OUT's folder/_cache/teacher)."
    ),
) -> None:
    """Generate synthetic reasoning documents (QA, worked problems, textbook sections, exercises, rephrasings)
    from seeds."""
    import pyarrow.parquet as pq

    from generators.synthesize import read_seeds, run_synthesis

    try:
        cfg = _teacher_settings(config, base_url, model, mode, max_tokens, concurrency, timeout_s, temperature)
        syn = cfg.synthesis
        if num_samples is not None:
            syn.num_samples = num_samples
        if seed is not None:
            syn.seed = seed
        table, stats = run_synthesis(read_seeds(seeds), syn, cache_dir or _default_cache(out))
    except CuratorError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    _report(stats, f"wrote {stats['rows']} synthetic documents -> {out}")


@app.command("make-tiny-model")
def make_tiny_model(
    out: Path = typer.Argument(..., help="Directory to write the tiny tokenizer + random-weight Llama into."),
    seed: int = typer.Option(0, "--seed", help="Weight seed."),
) -> None:
    """Build a tiny random-weight chat model locally (no downloads) for tests and dev runs of the teacher."""
    from generators.tiny_model import build_tiny_model

    path = build_tiny_model(out, seed=seed)
    console.print(
        f"tiny model in {path}; serve it with: python -m vllm.entrypoints.openai.api_server --model {path} "
        "--enforce-eager --dtype float32 --kv-cache-memory-bytes 134217728"
    )
