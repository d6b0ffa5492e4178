"""`curator serve`: run the scoring REST API (:mod:`classifiers.api`) with uvicorn."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import typer

from pipelines.cli.root import app


def parse_model_specs(values: list[str]) -> dict[str, str]:
    """``["default", "DIR", "NAME=DIR"]`` -> ``{name: spec}`` (first = the server's default model).

    A bare ``default`` is named ``default``; a bare directory is named after its base name.
    Directories become absolute paths (worker processes may not share the current directory).
    """
    out: dict[str, str] = {}
    for value in values:
        if "=" in value:
            name, spec = value.split("=", 1)
        elif value == "default":
            name, spec = "default", value
        else:
            spec = value
            name = re.sub(r"[^A-Za-z0-9._-]", "-", Path(value).expanduser().resolve().name) or "model"
        name = name.strip()
        if spec != "default":
            spec = str(Path(spec).expanduser().resolve())
        if name in out:
            raise typer.BadParameter(
                f"model name {name!r} is given twice; use NAME=DIR to name models apart", param_hint="--model"
            )
        out[name] = spec
    return out


@app.command("serve")
def serve(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model to serve: `default` (the shipped model), a model directory, or NAME=DIR. Repeatable; "
        "the first is used when a request names no model. (default: default)",
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 exposes the API to the network)."),
    port: int = typer.Option(8080, help="TCP port."),
    workers: int = typer.Option(
        1, min=1, help="uvicorn worker processes (each loads the models and one scoring process)."
    ),
    threshold: float = typer.Option(
        None,
        min=0,
        max=5,
        help="`keep` is edu_score >= threshold. (default: 2.5, the calibrated level-3 decision: edu_int_score >= 3)",
    ),
    max_docs: int = typer.Option(None, min=1, help="Documents per request. (default: 1024)"),
    max_chars: int = typer.Option(None, min=1, help="Characters per document. (default: 100000)"),
    max_body_bytes: int = typer.Option(None, min=1, help="Request body bytes. (default: 16 MiB)"),
    cors_origin: list[str] = typer.Option(
        None, "--cors-origin", help="Allowed CORS origin (repeatable; none by default)."
    ),
    executor: str = typer.Option(None, help="Where models run: `process` (default) or `thread`."),
    batch_max_docs: int = typer.Option(None, min=1, help="Documents per merged model call. (default: 2048)"),
    batch_max_wait_ms: float = typer.Option(
        None, min=0, help="Wait for more requests before a model call. (default: 0)"
    ),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="uvicorn access log (costs throughput)."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve POST /v1/score, GET /v1/models, /healthz, /readyz and /metrics.

    Settings not given here come from EDU_CURATOR_API_* environment variables. With
    EDU_CURATOR_API_KEY set, /v1/* and /metrics need `Authorization: Bearer <key>`.
    """
    import uvicorn
    from pydantic import ValidationError

    from classifiers.api.settings import ApiSettings
    from curator.exceptions import ModelError

    overrides: dict = {}
    if model:
        overrides["models"] = parse_model_specs(model)
    for key, value in {
        "threshold": threshold,
        "max_docs_per_request": max_docs,
        "max_chars_per_doc": max_chars,
        "max_body_bytes": max_body_bytes,
        "cors_origins": cors_origin or None,
        "scoring_executor": executor,
        "batch_max_docs": batch_max_docs,
        "batch_max_wait_ms": batch_max_wait_ms,
    }.items():
        if value is not None:
            overrides[key] = value
    try:
        settings = ApiSettings(**overrides)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(msgs) from exc

    # Fail here, with the loader's message, rather than inside every worker.
    from classifiers import load_classifier

    for name, spec in settings.models.items():
        try:
            load_classifier(spec)
        except ModelError as exc:
            typer.echo(f"error: model {name!r}: {exc}", err=True)
            raise typer.Exit(2) from exc

    key_state = "on" if settings.api_key else f"off (set {settings.api_key_env} to require a key)"
    typer.echo(
        f"serving {', '.join(settings.models)} on http://{host}:{port} ({workers} worker(s); API key {key_state})"
    )
    common = dict(host=host, port=port, log_level=log_level, access_log=access_log, timeout_graceful_shutdown=10)
    if workers == 1:
        from classifiers.api.app import create_app

        uvicorn.run(create_app(settings), **common)
        return
    os.environ.update(settings.to_env())
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="edu-curator-metrics-")
    uvicorn.run("classifiers.api.app:create_app_from_env", factory=True, workers=workers, **common)
