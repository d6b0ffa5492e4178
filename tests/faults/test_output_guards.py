"""One build per output directory, no stale temp output, clean stops on SIGTERM/SIGINT, one-line full-disk errors."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pytest
from curator_cli import cli_env, curator_argv, run_curator

from curator import schema as S
from curator.writers import atomic_write_table
from pipelines.guards import output_lock

TEXT = "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose."


def _cli(*args, **kw):
    return run_curator(*args, timeout=kw.get("timeout", 300))


def _inputs(tmp_path, n_docs=40, n_shards=1):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    for s in range(n_shards):
        rows = [{"id": f"s{s}-d{i}", "text": f"{TEXT} Document {s}-{i} studies chapter {i}."} for i in range(n_docs)]
        (src / f"s{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return src


def _config(tmp_path, src, extra="", executor="local"):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input:\n  paths: ['{src}']\nray:\n  executor: {executor}\n{extra}")
    return cfg


def test_second_build_into_a_locked_output_is_refused_naming_the_holder(tmp_path):
    cfg = _config(tmp_path, _inputs(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("a live build's output")
    with output_lock(out):  # this process plays the live build
        for extra in ([], ["--overwrite"]):
            r = _cli("build", str(cfg), "--out", str(out), "--no-progress", *extra)
            assert r.returncode == 2, r.stderr[-2000:]
            assert f"in use by another build (pid {os.getpid()})" in r.stderr
            assert (out / "precious.txt").exists()  # --overwrite deleted nothing
    r = _cli("build", str(cfg), "--out", str(out), "--no-progress")  # released: the build runs
    assert r.returncode == 0, r.stderr[-2000:]


def test_lock_is_released_when_its_holder_dies(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import os, pathlib, signal\nfrom pipelines.guards import output_lock\n"
        f"with output_lock(pathlib.Path({str(out)!r})):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == -signal.SIGKILL
    with output_lock(out):
        assert (out / ".lock").read_text().strip() == str(os.getpid())


def test_stale_step_temp_dirs_are_removed_on_resume_and_never_listed(tmp_path):
    cfg = _config(tmp_path, _inputs(tmp_path))
    out = tmp_path / "out"
    assert _cli("build", str(cfg), "--out", str(out), "--no-progress").returncode == 0
    # what a build killed inside a step leaves: a step's uncommitted output beside the committed ones
    doc = {f.name: None for f in S.REJECTED_SCHEMA}
    doc.update({S.ID: "ghost", S.TEXT: "ghost row"})
    stale = [
        out / "rejected" / ".heuristics.tmp-deadbeef",
        out / "_work" / ".annotated.tmp-deadbeef",
        out / ".phase1.tmp-deadbeef",
    ]
    for d in stale:
        atomic_write_table(pa.Table.from_pylist([doc], schema=S.REJECTED_SCHEMA), d / "part-00000.parquet")
    state = json.loads((out / "_work" / "state.json").read_text())
    state["steps"].pop("write_phases")
    (out / "_work" / "state.json").write_text(json.dumps(state))
    (out / "manifest.json").unlink()
    r = _cli("build", str(cfg), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not any(d.exists() for d in stale)
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(not name.startswith(".") for name in manifest["outputs"]["rejected"])
    r = _cli("inspect", str(out))
    assert ".heuristics.tmp" not in r.stdout + r.stderr


@pytest.mark.parametrize(
    ("sig", "code", "point", "executor"),
    [
        (signal.SIGTERM, 143, "annotate:start", "local"),
        (signal.SIGINT, 130, "ingest:shard", "local"),
        (signal.SIGTERM, 143, "annotate:start", "ray"),  # used to end in Ray's C++ crash dump (exit -6)
    ],
)
def test_signal_stops_cleanly_and_a_rerun_resumes(tmp_path, sig, code, point, executor):
    cfg = _config(tmp_path, _inputs(tmp_path, n_docs=50, n_shards=3), executor=executor)
    out = tmp_path / "out"
    env = cli_env(EDU_CURATOR_FAULT_PAUSE=point)
    cmd = curator_argv("build", cfg, "--out", out, "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in proc.stderr:  # the build waits at the fault point: the signal comes from outside, mid-build
        seen.append(line)
        if "paused" in line:
            break
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == code, err[-3000:]
    assert "stopped; rerun the same command to resume" in err and "Traceback" not in err
    r = _cli("build", str(cfg), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["counts_balanced"]


@pytest.fixture
def small_disk(tmp_path):
    """A 72 MiB tmpfs (root only; skipped where it cannot be mounted)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=72m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_is_one_line_naming_the_path_and_space(tmp_path, small_disk):
    src = tmp_path / "in"
    src.mkdir()
    with open(src / "big.jsonl", "w") as fh:  # ~100 MB of incompressible text: more than the disk holds
        for i in range(1000):
            fh.write(json.dumps({"id": f"d{i}", "text": base64.b64encode(os.urandom(75_000)).decode()}) + "\n")
    cfg = _config(tmp_path, src)
    t0 = time.time()
    r = _cli("build", str(cfg), "--out", str(small_disk / "out"), "--no-progress")
    assert r.returncode == 2, r.stderr[-3000:]
    errors = [ln for ln in r.stderr.splitlines() if not ln.startswith("[")]  # step log lines start with [step]
    assert len([ln for ln in errors if ln.strip()]) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert (
        f"disk full writing {small_disk}/out/" in r.stderr
        and "MiB free" in r.stderr
        and "rerun the same command" in r.stderr
    )
    assert time.time() - t0 < 240
