"""Fixtures for teacher tests: the tiny local model, and one real vLLM OpenAI-compatible server."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from generators.vllm_env import CPU_ENGINE_ENV
from generators.vllm_env import VLLM_ENV as _ENGINE_ENV

# the engines here are CPU ones: single-process executor (no vLLM worker process)
VLLM_ENV = {**_ENGINE_ENV, **CPU_ENGINE_ENV}
SERVED_NAME = "tiny-teacher"


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when the test process dies, even by SIGKILL (Linux), so
    that a killed test run leaves no vLLM server behind (one did: it kept its engine's CPU and RAM)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_env(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("vllm_cache")
    env = dict(os.environ, **VLLM_ENV, VLLM_CACHE_ROOT=str(cache), TORCHINDUCTOR_CACHE_DIR=str(cache / "inductor"))
    os.environ.update(
        {k: v for k, v in env.items() if k in VLLM_ENV or k in ("VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR")}
    )
    return env


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random-weight Llama + BPE tokenizer, built once per session (~10 s)."""
    from generators.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model")


class VllmServer:
    """A real `vllm.entrypoints.openai.api_server` subprocess on 127.0.0.1 (stop/start for fault tests)."""

    def __init__(self, model: Path, env: dict, log_dir: Path) -> None:
        self.model, self.env, self.log_dir = model, env, log_dir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.served_name = SERVED_NAME

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model),
            "--served-model-name",
            SERVED_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--enforce-eager",
            "--dtype",
            "float32",
            "--kv-cache-memory-bytes",
            str(128 * 2**20),
            "--max-model-len",
            "2048",
            "--structured-outputs-config",
            '{"backend": "guidance", "disable_any_whitespace": true}',
        ]

    def start(self, timeout_s: float = 420) -> None:
        self.starts += 1
        cmd = self.command()
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
        )
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM server not ready after {timeout_s}s; see {log.name}")

    def stop(self) -> None:
        """SIGKILL the server's whole process group (engine core included) and wait."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None
        time.sleep(0.5)


@pytest.fixture(scope="session")
def vllm_server_class() -> type[VllmServer]:
    """:class:`VllmServer`, for tests that start a server with other flags (override ``command``)."""
    return VllmServer


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="package")
def vllm_server(tiny_model, vllm_env, tmp_path_factory):
    """One real vLLM server for the generators tests (fault tests restart it and leave it running),
    stopped when they end: later tests, some of them timed against a real build (the dry run's 2x
    check), do not share the 2 cores with its processes."""
    server = VllmServer(tiny_model, vllm_env, tmp_path_factory.mktemp("vllm_logs"))
    server.start()
    yield server
    server.stop()
