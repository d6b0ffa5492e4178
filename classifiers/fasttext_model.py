"""fastText backend: supervised over ``__label__0`` .. ``__label__5``, score = expected level.

The score of a document is the expected value of the predicted distribution over the six
levels (``sum_k k * p(k)``, normalized), so it is a float in [0, 5]. Newlines are replaced
by spaces (fastText reads one line per example). Shipping artifacts are quantized
(``.ftz``). fastText's ``predict`` holds the GIL, so :meth:`FastTextEduClassifier.predict`
keeps per-call Python work to one list comprehension and a few numpy operations; scale out
with processes or Ray actors, not threads.

Training runs in a fresh child process. fasttext-numpy2 0.10.4 (and fasttext-modern 0.10.0)
read uninitialized heap memory while training (measured: ``MALLOC_PERTURB_=170`` turns every
model into one that scores all text 5.0). In a fresh process that memory is zero and
training is bit-for-bit repeatable; in a process whose heap was used before (a test run,
a second training) it holds old data and training fails with "Encountered NaN" or returns a
collapsed model. fasttext-community 0.11.9 does not have the bug. Training also checks
every model on a sample of its own training data and retries (bounded) when it diverged
or collapsed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from classifiers.base import MAX_SCORE, MIN_SCORE, EduClassifier, ModelCard
from curator.exceptions import ModelError

LABEL_PREFIX = "__label__"

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "lr": 0.1,
    "epoch": 20,
    "dim": 64,
    "wordNgrams": 2,
    "minCount": 2,
    "bucket": 200_000,
    "loss": "softmax",
    "thread": 1,  # one thread + a fresh process per training: bit-for-bit repeatable
    "seed": 0,
}
DEFAULT_QUANTIZE: dict[str, Any] = {"cutoff": 50_000, "qnorm": True, "retrain": False, "dsub": 2}
MAX_ATTEMPTS = 4


def _normalize_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def _suppress_fasttext_stderr() -> None:
    import fasttext

    # The Python wrapper warns on every load_model; the warning is noise here.
    fasttext.FastText.eprint = lambda *args, **kwargs: None


class FastTextEduClassifier(EduClassifier):
    """A fastText supervised model over the six educational levels.

    Args:
        model: a loaded ``fasttext.FastText._FastText``.
        card: its model card.
    """

    backend: ClassVar[str] = "fasttext"
    artifact_name: ClassVar[str] = "model.bin"

    def __init__(self, model: Any, card: ModelCard) -> None:
        super().__init__(card)
        self._model = model
        self._f = model.f  # the pybind object: multilinePredict without the wrapper's per-line check
        labels = model.get_labels()
        try:
            self._label_value = {lab: float(lab[len(LABEL_PREFIX) :]) for lab in labels}
        except ValueError as exc:
            raise ModelError(f"fastText model labels {labels} are not __label__0..__label__5") from exc
        self._n_labels = len(labels)

    # -- inference ---------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        lines = [t.replace("\n", " ") + "\n" if t else "\n" for t in texts]
        labels, probs = self._f.multilinePredict(lines, -1, 0.0, "replace")
        k = self._n_labels
        try:
            p = np.asarray(probs, dtype=np.float32)
            v = np.fromiter(map(self._label_value.__getitem__, chain.from_iterable(labels)), dtype=np.float32, count=n * k)
            v = v.reshape(n, k)
        except ValueError:  # ragged (a row with fewer labels): rare, do it row by row
            return np.array([self._expected(lab, pr) for lab, pr in zip(labels, probs)], dtype=np.float32)
        total = p.sum(axis=1)
        total[total <= 0] = 1.0
        scores = (p * v).sum(axis=1) / total
        return np.clip(scores, MIN_SCORE, MAX_SCORE, out=scores)

    def _expected(self, labels: Sequence[str], probs: Sequence[float]) -> float:
        if not len(labels):
            return 0.0
        p = np.asarray(probs, dtype=np.float64)
        v = np.array([self._label_value[lab] for lab in labels])
        return float(np.clip((p * v).sum() / max(p.sum(), 1e-12), MIN_SCORE, MAX_SCORE))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities over levels 0..5 as an ``(n, 6)`` float32 array."""
        lines = [t.replace("\n", " ") + "\n" if t else "\n" for t in texts]
        labels, probs = self._f.multilinePredict(lines, -1, 0.0, "replace")
        out = np.zeros((len(texts), 6), dtype=np.float32)
        for i, (lab, pr) in enumerate(zip(labels, probs)):
            for name, q in zip(lab, pr):
                out[i, int(self._label_value[name])] = q
        s = out.sum(axis=1, keepdims=True)
        s[s <= 0] = 1.0
        return out / s

    # -- persistence -------------------------------------------------------------
    def _write_artifact(self, path: Path) -> None:
        self._model.save_model(str(path))

    @classmethod
    def _load(cls, artifact: Path, card: ModelCard) -> "FastTextEduClassifier":
        import fasttext

        _suppress_fasttext_stderr()
        return cls(fasttext.load_model(str(artifact)), card)

    # -- training ----------------------------------------------------------------
    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[float],
        *,
        name: str = "edu-fasttext",
        hyperparameters: dict[str, Any] | None = None,
        quantize: bool | dict[str, Any] = False,
        training_data: dict[str, Any] | None = None,
        limits: list[str] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> "FastTextEduClassifier":
        """Train on ``texts`` with levels ``labels`` (floats are rounded to 0..5).

        Each attempt trains in a fresh child process (see the module docstring: fastText
        wheels read uninitialized heap memory while training, so a used heap gives NaN or a
        collapsed model; a fresh one gives a repeatable model). An attempt fails when
        fastText reports NaN or the model is collapsed (:func:`collapse_reason`); the next
        one uses the same learning rate with a new seed, then halves it
        (:func:`attempt_schedule`). The card records the rate and seed actually used and
        the failed attempts.

        Args:
            quantize: ``True`` (or a dict of ``fasttext.quantize`` options) to ship a small
                ``.ftz`` artifact.
            max_attempts: bound on training attempts before :class:`ModelError`.

        Raises:
            ModelError: no data, or every attempt diverged or collapsed.
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not len(texts):
            raise ModelError("cannot train a classifier on zero examples")
        hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        levels = np.clip(np.rint(np.asarray(labels, dtype=np.float64)), MIN_SCORE, MAX_SCORE).astype(int)
        qopts: dict[str, Any] | None = None
        if quantize:
            qopts = {**DEFAULT_QUANTIZE, **(quantize if isinstance(quantize, dict) else {})}
        counts = np.bincount(levels, minlength=6).tolist()
        check_idx = _check_sample(len(texts), int(hp["seed"]))
        check_texts = [texts[i] for i in check_idx]
        check_levels = levels[check_idx]
        failures: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="edu-fasttext-") as tmp:
            train_path = Path(tmp) / "train.txt"
            with open(train_path, "w", encoding="utf-8") as f:
                for text, level in zip(texts, levels):
                    f.write(f"{LABEL_PREFIX}{level} {_normalize_line(text)}\n")
            for attempt, (lr, seed) in enumerate(attempt_schedule(float(hp["lr"]), int(hp["seed"]), max_attempts)):
                out = Path(tmp) / f"model-{attempt}{'.ftz' if qopts else '.bin'}"
                error = _train_in_child(train_path, out, {**hp, "lr": lr, "seed": seed}, qopts)
                if error is None:
                    clf = cls._load(out, ModelCard(backend=cls.backend))
                    error = collapse_reason(clf.predict_proba(check_texts), check_levels)
                    if error is None:
                        break
                failures.append({"lr": lr, "seed": seed, "error": error})
            else:
                raise ModelError(
                    f"fastText training failed {len(failures)} times ({'; '.join(f['error'] for f in failures)}); "
                    "add data or epochs, lower lr, or use --backend sklearn."
                )
        hp.update(lr=lr, seed=seed)
        clf.card = ModelCard(
            backend=cls.backend,
            name=name,
            artifact="model.ftz" if qopts else "model.bin",
            hyperparameters={**hp, "quantize": qopts},
            training_data={"n_examples": int(len(texts)), "label_counts": counts, **(training_data or {})},
            limits=list(limits or []),
        )
        if failures:
            clf.card.training_data["failed_attempts"] = failures
        return clf


def attempt_schedule(lr: float, seed: int, max_attempts: int = MAX_ATTEMPTS) -> list[tuple[float, int]]:
    """``(lr, seed)`` per attempt: twice at each rate with a new seed, then half the rate."""
    return [(lr / 2 ** (i // 2), seed + i) for i in range(max(1, max_attempts))]


def _check_sample(n: int, seed: int, size: int = 2000) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def collapse_reason(proba: np.ndarray, levels: np.ndarray) -> str | None:
    """Why a trained model is unusable on (a sample of) its own training data, or ``None``.

    Collapsed means: non-finite probabilities; or labels that vary but expected scores that
    do not (a model that saw garbage weights scores every text ~the same, e.g. 4.95); or
    one predicted level for every text, no better than always answering the majority
    level, with scores that do not rank the texts by level either (correlation < 0.2).
    """
    if not np.isfinite(proba).all():
        return "non-finite probabilities"
    if len(np.unique(levels)) < 2 or len(levels) < 2:
        return None
    scores = proba.astype(np.float64) @ np.arange(6, dtype=np.float64)
    if float(scores.std()) < 0.01 * float(levels.std()):
        return f"collapsed: every training text scores ~{float(scores.mean()):.2f}"
    pred = proba.argmax(axis=1)
    majority = np.bincount(levels, minlength=6).max() / len(levels)
    accuracy = float((pred == levels).mean())
    corr = float(np.corrcoef(scores, levels)[0, 1])
    if len(np.unique(pred)) == 1 and accuracy <= majority + 1e-9 and not corr >= 0.2:
        return f"collapsed: one predicted level ({int(pred[0])}) for every training text, accuracy {accuracy:.2f}, correlation {corr:.2f}"
    return None


# The child: import fastText only, train, optionally quantize, save. Exit 3 means NaN.
_CHILD = """
import json, sys
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
job = json.loads(sys.argv[1])
try:
    model = fasttext.train_supervised(input=job["input"], verbose=0, **job["hp"])
    if job["quantize"] is not None:
        q = dict(job["quantize"])
        if q.get("retrain"):
            q["input"] = job["input"]
        model.quantize(**q)
    model.save_model(job["out"])
except RuntimeError as exc:
    sys.stderr.write(str(exc))
    sys.exit(3 if "NaN" in str(exc) else 2)
"""


def _train_in_child(train_path: Path, out: Path, hp: dict[str, Any], quantize: dict[str, Any] | None) -> str | None:
    """Train in a fresh interpreter; ``None`` on success, else why the attempt failed.

    Raises:
        ModelError: the child failed for a reason retrying cannot fix (bad option, crash).
    """
    job = {"input": str(train_path), "out": str(out), "hp": hp, "quantize": quantize}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True, check=False)
    if proc.returncode == 3:
        return f"NaN at lr={hp['lr']:g} seed={hp['seed']}"
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise ModelError(f"fastText training failed (exit {proc.returncode}): {' | '.join(tail) or 'no message'}; check the hyper-parameters.")
    return None
