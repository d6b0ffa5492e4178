"""`curator build` stops the Ray it started while its report is written, and leaves no Ray process behind; a build
run from a process that already holds Ray (a notebook, a service) leaves that Ray running."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from curator_cli import cli_env, run_curator

from curator.demo import demo_config
from pipelines.build import run_build


def _processes_naming(text: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if text in line and "ps -eo" not in line]


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
        deadline = time.time() + 10
        while _processes_naming(ray_tmp) and time.time() < deadline:
            time.sleep(0.2)
        assert not _processes_naming(ray_tmp), _processes_naming(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_build_leaves_a_ray_it_found_running(ray_local, tmp_path):
    cfg = demo_config(tmp_path / "in", ray={"executor": "ray"}, dedup={"fuzzy": {"enabled": False}})
    run_build(cfg, tmp_path / "out", progress=False, log=lambda m: None, release_ray=True)
    assert ray_local.is_initialized()
    assert ray_local.get(ray_local.put(7)) == 7  # still usable by its owner
