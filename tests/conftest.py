"""Shared test fixtures: one local Ray for the whole session, offline environment."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray with 2 CPUs, shared by every test that needs Ray."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
    except Exception:  # pragma: no cover - older/newer Ray
        pass
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_build(ray_local, tmp_path_factory):
    """ONE real build of the built-in demo corpus (local Ray, default classifier), shared by every test.

    Returns the output directory. Tests must not modify it.
    """
    from curator.demo import demo_config
    from pipelines.build import run_build

    root = tmp_path_factory.mktemp("demo_build")
    config = demo_config(root / "input")
    out = root / "out"
    run_build(config, out, progress=False, log=lambda m: None)
    return out
