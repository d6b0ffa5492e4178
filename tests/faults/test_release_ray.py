"""`curator build` and `curator score` stop the Ray they started and leave no Ray process behind (the build while its
report is written); a build run from a process that already holds Ray (a notebook, a service) leaves it running."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from curator_cli import cli_env, run_curator

from curator.demo import demo_config
from pipelines.build import run_build


def _processes_naming(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in args:
            found.append(f"{cmdline.parent.name}: {args[:200]}")
    return found


def _assert_no_process_names(text: str, wait_s: float = 10.0) -> None:
    """No live process names ``text`` within ``wait_s`` (processes a command stopped may take a moment to go)."""
    deadline = time.time() + wait_s
    while _processes_naming(text) and time.time() < deadline:
        time.sleep(0.2)
    assert not _processes_naming(text), _processes_naming(text)


def test_cli_build_on_ray_exits_with_no_ray_process_left(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths live under it
    try:
        cfg = tmp_path / "c.yaml"
        inputs = demo_config(tmp_path / "in").input.paths
        cfg.write_text(json.dumps({"input": {"paths": inputs}, "ray": {"executor": "ray", "num_cpus": 2}}))
        out = tmp_path / "out"
        r = run_curator("build", cfg, "--out", out, "--no-progress", env=cli_env(RAY_TMPDIR=ray_tmp))
        assert r.returncode == 0, r.stderr[-3000:]
        assert "Exception in thread" not in r.stderr and "Traceback" not in r.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts_balanced"] is True
        assert (out / "report" / "report.md").is_file()  # written while Ray stopped
        assert "phase1:" in r.stdout + r.stderr  # the summary came before the exit
        assert any(Path(ray_tmp).iterdir())  # the build's Ray lived under RAY_TMPDIR
        _assert_no_process_names(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_build_leaves_a_ray_it_found_running(ray_local, tmp_path):
    cfg = demo_config(tmp_path / "in", ray={"executor": "ray"}, dedup={"fuzzy": {"enabled": False}})
    run_build(cfg, tmp_path / "out", progress=False, log=lambda m: None, release_ray=True)
    assert ray_local.is_initialized()
    assert ray_local.get(ray_local.put(7)) == 7  # still usable by its owner


def test_cli_score_on_ray_exits_with_no_ray_process_left(tmp_path):
    import pyarrow.parquet as pq

    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    try:
        src = tmp_path / "docs.jsonl"
        texts = [f"Photosynthesis turns light into chemical energy, lesson {i}." for i in range(50)]
        src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
        r = run_curator("score", src, "--out", tmp_path / "out", env=cli_env(RAY_TMPDIR=ray_tmp))
        assert r.returncode == 0, r.stderr[-3000:]
        summary = json.loads(r.stdout.strip().splitlines()[-1])  # printed before the exit
        assert summary["scored"] == 50
        assert pq.read_table(tmp_path / "out" / "scored").num_rows == 50
        _assert_no_process_names(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
