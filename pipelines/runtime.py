"""Starting Ray: a local instance by default, or an existing cluster (``ray.address``)."""

from __future__ import annotations

import logging
import os
import sys

from curator.exceptions import ClusterError
from curator.settings import RaySettings


def init_ray(settings: RaySettings, progress: bool = True):
    """Start or connect to Ray according to ``settings``; return the ``ray`` module.

    Raises:
        ClusterError: the cluster address cannot be reached (the message says how to check it).
    """
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if ray.is_initialized():
        _configure_data(progress)
        return ray
    kwargs: dict = {
        "include_dashboard": False,
        "ignore_reinit_error": True,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if settings.address:
        kwargs["address"] = settings.address
    else:
        if settings.num_cpus:
            kwargs["num_cpus"] = settings.num_cpus
        if settings.object_store_mb:
            kwargs["object_store_memory"] = settings.object_store_mb * 2**20
    if settings.address and settings.address != "auto":
        _check_reachable(settings.address)
    try:
        ray.init(**kwargs)
    except Exception as exc:  # ray.init raises bare Exception on start-up time-outs
        if settings.address:
            raise ClusterError(
                f"cannot reach the Ray cluster at {settings.address!r}: {exc}. Check that `ray status --address "
                f"{settings.address}` works from this machine, or leave `ray.address` empty to run on a local Ray."
            ) from exc
        raise ClusterError(
            f"could not start a local Ray: {exc}. "
            "The machine may be overloaded or /tmp full; retry, set `ray.num_cpus`, "
            "or use `ray.executor: local` for small inputs."
        ) from exc
    _configure_data(progress)
    return ray


def _configure_data(progress: bool) -> None:
    from ray.data import DataContext

    for name in ("ray.data", "ray.data._internal.execution.streaming_executor", "ray.data.dataset"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = False
    try:
        ctx.enable_operator_progress_bars = progress
    except AttributeError:  # pragma: no cover
        pass


def ray_is_up() -> bool:
    """Whether this process is connected to Ray already (then a build leaves it running); imports nothing."""
    ray = sys.modules.get("ray")  # not imported: not connected
    return ray is not None and bool(ray.is_initialized())


def stop_ray_in_background():
    """Start ``ray.shutdown()`` in a thread and return the thread (join it before the process ends).

    For a process that ends with its build: Ray's shutdown mostly waits for its processes to exit (~1.4 s on 2
    cores), which the build's manifest and report can use. Call it only once no more Ray work will be submitted.
    """
    import threading

    import ray

    thread = threading.Thread(target=ray.shutdown, name="ray-shutdown")
    thread.start()
    return thread


def cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 1.0))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds when nothing listens at a cluster address (``ray.init`` would wait for minutes)."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"ray.address {address!r} is not `auto` or host:port (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}. "
            f"Check that `ray status --address {address}` "
            "works from this machine, or leave `ray.address` empty to run on a local Ray."
        ) from exc
