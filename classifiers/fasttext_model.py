"""fastText backend: supervised over ``__label__0`` .. ``__label__5``, score = expected level.

The score of a document is the expected value of the predicted distribution over the six
levels (``sum_k k * p(k)``, normalized), so it is a float in [0, 5]. Newlines are replaced
by spaces (fastText reads one line per example). Shipping artifacts are quantized
(``.ftz``). fastText's ``predict`` holds the GIL, so :meth:`FastTextEduClassifier.predict`
keeps per-call Python work to one list comprehension and a few numpy operations; scale out
with processes or Ray actors, not threads.
"""

from __future__ import annotations

import os
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
    "thread": 1,  # one thread: as repeatable as fastText gets (not bit-for-bit in fasttext-numpy2 0.10.4)
    "seed": 0,
}
DEFAULT_QUANTIZE: dict[str, Any] = {"cutoff": 50_000, "qnorm": True, "retrain": False, "dsub": 2}


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
    ) -> "FastTextEduClassifier":
        """Train on ``texts`` with levels ``labels`` (floats are rounded to 0..5).

        fastText diverges ("Encountered NaN") on tiny, trivially separable data at usual
        learning rates; training then retries with the learning rate halved (up to 5 times)
        and records the rate actually used in the card.

        Args:
            quantize: ``True`` (or a dict of ``fasttext.quantize`` options) to ship a small
                ``.ftz`` artifact.
        """
        import fasttext

        _suppress_fasttext_stderr()
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not len(texts):
            raise ModelError("cannot train a classifier on zero examples")
        hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        levels = np.clip(np.rint(np.asarray(labels, dtype=np.float64)), MIN_SCORE, MAX_SCORE).astype(int)
        fd, train_path = tempfile.mkstemp(prefix="edu-fasttext-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for text, level in zip(texts, levels):
                    f.write(f"{LABEL_PREFIX}{level} {_normalize_line(text)}\n")
            lr = float(hp["lr"])
            for _attempt in range(6):
                try:
                    model = fasttext.train_supervised(input=train_path, verbose=0, **{**hp, "lr": lr})
                    break
                except RuntimeError as exc:
                    if "NaN" not in str(exc):
                        raise
                    lr /= 2
            else:
                raise ModelError("fastText training reported NaN even at a small learning rate; this happens with very little data or a tiny bucket: add data, raise epoch or bucket")
            hp["lr"] = lr
            qopts: dict[str, Any] | None = None
            if quantize:
                qopts = {**DEFAULT_QUANTIZE, **(quantize if isinstance(quantize, dict) else {})}
                if qopts.get("retrain"):
                    qopts["input"] = train_path
                model.quantize(**qopts)
                qopts.pop("input", None)
        finally:
            os.unlink(train_path)
        counts = np.bincount(levels, minlength=6).tolist()
        card = ModelCard(
            backend=cls.backend,
            name=name,
            artifact="model.ftz" if quantize else "model.bin",
            hyperparameters={**hp, "quantize": qopts},
            training_data={"n_examples": int(len(texts)), "label_counts": counts, **(training_data or {})},
            limits=list(limits or []),
        )
        return cls(model, card)
