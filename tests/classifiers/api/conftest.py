"""Fixtures of the API tests: a tiny stand-in classifier and a TestClient factory."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from classifiers.api import ApiSettings, create_app


class _Card(BaseModel):
    backend: str = "fake"
    name: str = "fake-edu"
    metrics: dict = {"note": "stand-in for route tests"}


class FakeClassifier:
    """Follows the EduClassifier interface: score = number of words, capped at 5; records call sizes."""

    backend = "fake"

    def __init__(self, name: str = "fake") -> None:
        self.version = f"{name}-0001"
        self.card = _Card(name=name)
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def predict(self, texts):
        with self._lock:
            self.calls.append(len(texts))
        return np.array([min(5.0, float(len(t.split()))) for t in texts], dtype=np.float32)


@pytest.fixture
def make_client(monkeypatch):
    """``make_client(**settings) -> TestClient`` with FakeClassifiers registered as ``fake`` and ``other``."""
    clients = []

    def _make(api_key: str | None = None, **overrides) -> TestClient:
        if api_key is None:
            monkeypatch.delenv("EDU_CURATOR_API_KEY", raising=False)
        else:
            monkeypatch.setenv("EDU_CURATOR_API_KEY", api_key)
        base = {"models": {"fake": "fake", "other": "other"}, "threshold": 3.0, "scoring_executor": "thread"}
        settings = ApiSettings(**{**base, **overrides})
        loaded: dict[str, FakeClassifier] = {}

        def loader(spec: str) -> FakeClassifier:
            loaded[spec] = FakeClassifier(spec)
            return loaded[spec]

        client = TestClient(create_app(settings, loader=loader))
        client.__enter__()
        client.loaded = loaded
        clients.append(client)
        return client

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


# --- a real fastText model and a real uvicorn server -----------------------------------------------------
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

API_KEY = "e2e-test-key-9f3a"
EDU_WORDS = "theorem proof equation molecule photosynthesis theory experiment analysis lecture chapter".split()
SPAM_WORDS = "buy cheap discount click casino winner free offer deal prize".split()


def make_texts(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Generated English-ish documents: educational vocabulary -> level 4-5, spam vocabulary -> 0-1."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        edu = i % 2 == 0
        words = EDU_WORDS if edu else SPAM_WORDS
        texts.append(" ".join(rng.choice(words + ["the", "a", "and", "of"]) for _ in range(rng.randint(20, 60))))
        labels.append(rng.choice([4, 5]) if edu else rng.choice([0, 1]))
    return texts, labels


@pytest.fixture(scope="session")
def fasttext_model_dir(tmp_path_factory) -> Path:
    """A real fastText classifier trained on generated data, saved in the classifiers model-dir format."""
    from classifiers import train_classifier

    texts, labels = make_texts(400)
    clf = train_classifier(
        texts, labels, backend="fasttext", name="edu-e2e", hyperparameters={"epoch": 5, "dim": 16, "bucket": 20_000}
    )
    return clf.save(tmp_path_factory.mktemp("model") / "edu-e2e")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`curator serve` in a subprocess on 127.0.0.1."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        cmd = [
            sys.executable,
            "-c",
            "from pipelines.cli import main; main()",
            "serve",
            "--port",
            str(self.port),
            *args,
        ]
        full_env = {**os.environ, **env}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="session")
def live_server(fasttext_model_dir, tmp_path_factory):
    """One worker, two registered names for the real model, an API key and small limits."""
    env = {
        "EDU_CURATOR_API_KEY": API_KEY,
        "EDU_CURATOR_API_MAX_BODY_BYTES": "60000",
    }
    args = [
        "--model",
        f"main={fasttext_model_dir}",
        "--model",
        f"alt={fasttext_model_dir}",
        "--max-docs",
        "8",
        "--max-chars",
        "5000",
        "--threshold",
        "2.5",
        "--log-level",
        "warning",
    ]
    server = LiveServer(args, env, tmp_path_factory.mktemp("server") / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def texts_factory():
    """``make_texts(n, seed) -> (texts, labels)``."""
    return make_texts


@pytest.fixture
def start_server(tmp_path):
    """``start_server(args, env) -> LiveServer`` (not yet ready); stopped after the test."""
    servers = []

    def _start(args: list[str], env: dict[str, str] | None = None) -> LiveServer:
        server = LiveServer(args, env or {}, tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        return server

    yield _start
    for s in servers:
        s.stop()
