"""Cluster mode: the demo build on a real two-node Ray cluster equals the single-node build.

The cluster is two `ray start --block` processes on this machine (a head and a worker node, one CPU
each) with their own short temp dir, so they never write the machine-wide
``/tmp/ray/ray_current_cluster`` that other Ray users' plain ``ray.init()`` would pick up; terminating
the blocking processes stops exactly the Ray processes they started (never ``ray stop``, which would
kill every Ray on the machine). The build runs in a subprocess with ``ray.address`` set to the head,
because this pytest process may already hold the session's local Ray.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curator import schema as S
from curator.writers import parquet_files

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))

DRIVER = """
import json, sys
import ray
from curator.settings import BuildConfig
from pipelines.build import run_build

config = BuildConfig.model_validate_json(open(sys.argv[1]).read())
manifest = run_build(config, sys.argv[2], progress=False, log=lambda m: None)
nodes = [n for n in ray.nodes() if n["Alive"]]
cpus = ray.cluster_resources().get("CPU")
print(json.dumps({"nodes": len(nodes), "cpus": cpus, "balanced": manifest["counts_balanced"]}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    # token auth (on by default for `ray start`) would refuse a driver that connects by explicit address
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0", PYTHONUNBUFFERED="1")
    return env


def _start_node(args: list[str], log: Path) -> subprocess.Popen:
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 2**20), "--disable-usage-stats", "--block"]
    common += ["--dashboard-agent-listen-port", str(_free_port())]
    return subprocess.Popen(
        [RAY, "start", *args, *common],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,
    )


def _wait_for_nodes(
    address: str, n: int, procs: list[subprocess.Popen], logs: list[Path], timeout: float = 90
) -> None:
    probe = (
        "import ray, sys, time\n"
        "ray.init(address=sys.argv[1], log_to_driver=False)\n"
        f"deadline = time.time() + {timeout}\n"
        f"while sum(1 for x in ray.nodes() if x['Alive']) < {n} and time.time() < deadline: time.sleep(0.5)\n"
        "print(sum(1 for x in ray.nodes() if x['Alive']))\n"
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p, log in zip(procs, logs):
            if p.poll() is not None:
                pytest.fail(f"a Ray node exited early (rc {p.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        r = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True, env=_env(), timeout=timeout + 30
        )
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(1)
    pytest.fail(
        f"the {n}-node cluster at {address} did not come up: "
        + " | ".join(log.read_text(errors="replace")[-1500:] for log in logs)
    )


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):  # worker first, then head
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def _ids(directory: Path) -> set[str]:
    return {i for f in parquet_files(directory) for i in pq.read_table(f, columns=[S.ID]).column(S.ID).to_pylist()}


def _quarantined(directory: Path) -> set[tuple]:
    cols = [S.Q_SOURCE, S.Q_LOCATION, S.Q_REASON]
    return {
        tuple(r[c] for c in cols) for f in parquet_files(directory) for r in pq.read_table(f, columns=cols).to_pylist()
    }


def _summary(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    rejected = sorted(p.name for p in (out / "rejected").iterdir()) if (out / "rejected").exists() else []
    return {
        "ids": {name: _ids(out / name) for name in ("phase1", "phase2")}
        | {"quarantine": _quarantined(out / "quarantine")}
        | {f"rejected/{r}": _ids(out / "rejected" / r) for r in rejected},
        "stages": {s["name"]: (s.get("in"), s.get("out"), s.get("dropped"), s.get("reasons")) for s in m["stages"]},
        "rows": {k: v["rows"] for k, v in m["outputs"].items() if k != "rejected"}
        | {f"rejected/{k}": v["rows"] for k, v in m["outputs"]["rejected"].items()},
        "config_hash": m["config_hash"],
    }


def test_two_node_cluster_build_equals_single_node_build(tmp_path):
    from curator.demo import demo_config
    from pipelines.build import run_build

    config = demo_config(tmp_path / "input")
    single = tmp_path / "single"
    run_build(
        config.model_copy(update={"ray": config.ray.model_copy(update={"executor": "local"})}),
        single,
        progress=False,
        log=lambda m: None,
    )

    # A short temp dir: Ray's Unix socket paths must stay under ~107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    logs = [tmp_path / "head.log", tmp_path / "worker.log"]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            _start_node(
                ["--head", "--port", str(port), "--temp-dir", str(temp_dir), "--include-dashboard=false"], logs[0]
            )
        )
        _wait_for_nodes(address, 1, procs, logs[:1])
        procs.append(_start_node(["--address", address], logs[1]))
        _wait_for_nodes(address, 2, procs, logs)

        cluster_cfg = config.model_copy(
            update={"ray": config.ray.model_copy(update={"executor": "ray", "address": address})}
        )
        cfg_path = tmp_path / "config.json"
        cfg_path.write_text(cluster_cfg.model_dump_json())
        clustered = tmp_path / "cluster"
        r = subprocess.run(
            [sys.executable, "-c", DRIVER, str(cfg_path), str(clustered)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=150,
        )
        assert r.returncode == 0, r.stderr[-4000:]
        info = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        _stop(procs)
        shutil.rmtree(temp_dir, ignore_errors=True)

    # the build really ran on two nodes with the cluster's CPUs, not on a local Ray of its own
    assert info == {"nodes": 2, "cpus": 2.0, "balanced": True}
    manifest = json.loads((clustered / "manifest.json").read_text())
    assert manifest["config"]["ray"]["address"] == address
    a, b = _summary(single), _summary(clustered)
    assert a["config_hash"] == b["config_hash"]  # ray settings do not change what a build writes
    assert a["rows"] == b["rows"]
    assert a["stages"] == b["stages"]
    assert a["ids"].keys() == b["ids"].keys()
    for name in a["ids"]:
        assert a["ids"][name] == b["ids"][name], name
    assert a["ids"]["phase1"] and a["ids"]["rejected/fuzzy_dedup"]
    # the same scores, document by document
    score = lambda out: dict(  # noqa: E731
        (i, s)
        for f in parquet_files(out / "phase1")
        for i, s in zip(
            *(pq.read_table(f, columns=[S.ID, S.EDU_SCORE]).column(c).to_pylist() for c in (S.ID, S.EDU_SCORE))
        )
    )
    assert score(single) == score(clustered)
