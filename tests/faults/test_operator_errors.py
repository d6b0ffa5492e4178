"""Operator errors end the CLI with exit code 2 and a message that says what to do."""

from __future__ import annotations

import time

import pytest
from curator_cli import run_curator


def _curator(*args, timeout=120):
    return run_curator(*args, timeout=timeout)


def _config(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


def test_unreadable_input_path(tmp_path):
    r = _curator(
        "build", _config(tmp_path, f"input:\n  paths: ['{tmp_path}/nope/*.jsonl']\n"), "--out", str(tmp_path / "o")
    )
    assert r.returncode == 2
    assert "matched no files" in r.stderr and "check the pattern" in r.stderr


def test_output_not_writable(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    r = _curator(
        "build", _config(tmp_path, f"input:\n  paths: ['{tmp_path}/in.jsonl']\n"), "--out", str(blocker / "out")
    )
    assert r.returncode == 2
    assert "cannot write to output directory" in r.stderr and "Choose a writable --out" in r.stderr


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_model_missing_or_corrupt(tmp_path, damage):
    from classifiers import default_model_dir

    model = tmp_path / "model"
    model.mkdir()
    if damage == "corrupt":
        src = default_model_dir()
        for f in src.iterdir():
            data = f.read_bytes()
            (model / f.name).write_bytes(data if f.suffix == ".json" else data[: len(data) // 3])
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    cfg = _config(tmp_path, f"input:\n  paths: ['{tmp_path}/in.jsonl']\nclassifier:\n  model: {model}\n")
    r = _curator("build", cfg, "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert "error:" in r.stderr and str(model) in r.stderr


def test_unreachable_ray_cluster_fails_fast(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    cfg = _config(tmp_path, f"input:\n  paths: ['{tmp_path}/in.jsonl']\n")
    t0 = time.time()
    r = _curator("build", cfg, "--out", str(tmp_path / "o"), "--address", "127.0.0.1:1", timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in r.stderr and "ray status" in r.stderr
    assert time.time() - t0 < 240
