"""A progress bar over a build's steps, with an ETA (tqdm.auto: a widget in notebooks, text in a terminal).

``run_build`` reports each step through its ``log`` callback (``[step] running`` / ``[step] done in``);
:class:`StepProgress` turns those lines into a bar, and forwards every line to an optional inner log::

    bar = StepProgress(config)
    run_build(config, out, log=bar.log)
    bar.close()

Ray Data's own per-operator bars (rows processed) still show inside each step.
"""

from __future__ import annotations

from collections.abc import Callable

from curator.settings import BuildConfig


class StepProgress:
    """Counts finished build steps of ``config`` on a ``tqdm.auto`` bar.

    Args:
        config: the build config (decides which steps run).
        steps: the build's step list (default :data:`pipelines.build.STEPS`).
        inner: also called with every log line (e.g. ``print``); ``None`` keeps only the bar.
        enabled: ``False`` shows no bar (lines still reach ``inner``).
    """

    def __init__(
        self,
        config: BuildConfig,
        inner: Callable[[str], None] | None = None,
        enabled: bool = True,
        steps: list | None = None,
    ) -> None:
        from tqdm.auto import tqdm

        from pipelines.build import STEPS

        self.steps = [s.name for s in (STEPS if steps is None else steps) if s.enabled(config)]
        self.inner = inner
        self.bar = tqdm(total=len(self.steps), desc="build steps", unit="step", disable=not enabled)

    def log(self, message: str) -> None:
        if "] done in" in message:
            self.bar.update(1)
        elif "] running" in message:
            self.bar.set_postfix_str(message.split("]", 1)[0].lstrip("["), refresh=True)
        elif "already complete" in message:
            self.bar.update(self.bar.total - self.bar.n)
        if self.inner is not None:
            self.inner(message)

    def close(self) -> None:
        self.bar.close()
