"""Resume bookkeeping: which stages and shards of a build are complete.

``OUT/_work/state.json`` records the config hash and, per completed step, its stats.
It is rewritten atomically after each step, so a build killed at any point restarts
from the last completed step (and, for ingest, the last completed shard), and a
different config against the same output directory is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from curator.exceptions import ConfigError
from curator.writers import atomic_write_json


class BuildState:
    def __init__(self, out: Path, config_hash: str, overwrite: bool = False) -> None:
        self.out = Path(out)
        self.work = self.out / "_work"
        self.path = self.work / "state.json"
        self.config_hash = config_hash
        data = {}
        if self.path.exists():
            data = json.loads(self.path.read_text())
        elif (self.out / "manifest.json").exists():
            data = {"config_hash": json.loads((self.out / "manifest.json").read_text()).get("config_hash")}
        old = data.get("config_hash")
        if old and old != config_hash:
            if not overwrite:
                raise ConfigError(
                    f"{self.out} holds a build made with another config (hash {old}, now {config_hash}). "
                    "Use a new --out directory, restore the old config, "
                    "or pass --overwrite to start this build afresh."
                )
            import shutil

            for child in self.out.iterdir():
                if child.name == ".lock":  # held by this build (pipelines.guards): deleting it would let another in
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            data = {}
        self.steps: dict[str, dict] = data.get("steps", {})
        self.work.mkdir(parents=True, exist_ok=True)
        self._save()

    def done(self, step: str) -> bool:
        return step in self.steps

    def stats(self, step: str) -> dict:
        return self.steps[step]

    def mark(self, step: str, stats: dict) -> None:
        self.steps[step] = stats
        self._save()

    def mark_many(self, stats: dict[str, dict]) -> None:
        """Record several steps at once (one atomic write: a fused row pass is one resume unit)."""
        self.steps.update(stats)
        self._save()

    def _save(self) -> None:
        atomic_write_json({"config_hash": self.config_hash, "steps": self.steps}, self.path)
