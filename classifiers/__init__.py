"""Educational-level classifiers: one interface (:class:`EduClassifier`), two CPU backends.

* :func:`load_classifier` — a model directory (or ``"default"``, the model shipped in this
  package) to a ready classifier; dispatches on ``model_card.json``'s ``backend``; never
  touches the network.
* :func:`train_classifier` — texts and 0-5 labels to a trained classifier of either backend.
* :func:`default_model_dir` — where the shipped default model lives.

Backends: ``fasttext`` (:class:`FastTextEduClassifier`) and ``sklearn``
(:class:`SklearnEduClassifier`). Training from annotation files lives in
:mod:`classifiers.training`, metrics and plots in :mod:`classifiers.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.base import CARD_FILE, EduClassifier, ModelCard, scores_to_int
from curator.exceptions import ModelError

__all__ = [
    "BACKENDS",
    "EduClassifier",
    "FastTextEduClassifier",
    "ModelCard",
    "SklearnEduClassifier",
    "default_model_dir",
    "load_classifier",
    "scores_to_int",
    "train_classifier",
]

BACKENDS = ("fasttext", "sklearn")


def __getattr__(name: str) -> Any:  # lazy: importing `classifiers` must not import fasttext/sklearn
    if name == "FastTextEduClassifier":
        from classifiers.fasttext_model import FastTextEduClassifier

        return FastTextEduClassifier
    if name == "SklearnEduClassifier":
        from classifiers.sklearn_model import SklearnEduClassifier

        return SklearnEduClassifier
    raise AttributeError(name)


def _backend_class(backend: str) -> type[EduClassifier]:
    if backend == "fasttext":
        from classifiers.fasttext_model import FastTextEduClassifier

        return FastTextEduClassifier
    if backend == "sklearn":
        from classifiers.sklearn_model import SklearnEduClassifier

        return SklearnEduClassifier
    raise ModelError(f"unknown classifier backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def default_model_dir() -> Path:
    """The directory of the default model shipped inside the ``classifiers`` package."""
    return Path(__file__).resolve().parent / "default"


def load_classifier(spec: str | Path = "default") -> EduClassifier:
    """Load a classifier from a model directory, or ``"default"`` for the shipped model.

    Raises:
        ModelError: the directory, its ``model_card.json`` or its artifact is missing or
            corrupt, or the backend is unknown. The message says what to do.
    """
    if isinstance(spec, str) and spec in ("", "default"):
        directory = default_model_dir()
        if not (directory / CARD_FILE).is_file():
            raise ModelError(
                f"the default model is missing from {directory}; rebuild it with `curator train-default` "
                "or re-install edu-curator."
            )
    else:
        directory = Path(spec).expanduser()
        if not directory.exists():
            raise ModelError(
                f"model directory {directory} does not exist; pass a directory written by "
                "`curator train-classifier --out DIR`, or `default`."
            )
        if directory.is_file():  # a path to the artifact or the card: use its directory
            directory = directory.parent
    card = ModelCard.read(directory)
    return _backend_class(card.backend).load(directory)


def train_classifier(
    texts: Sequence[str],
    labels: Sequence[float],
    backend: str = "fasttext",
    *,
    name: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    **kwargs: Any,
) -> EduClassifier:
    """Train a classifier of ``backend`` on ``texts`` with 0-5 ``labels``.

    Extra keyword arguments go to the backend's ``train`` (e.g. ``quantize=True`` for
    fastText, ``model="ridge"`` for sklearn, ``training_data``/``limits`` for the card).
    """
    cls = _backend_class(backend)
    return cls.train(texts, labels, name=name or f"edu-{backend}", hyperparameters=hyperparameters, **kwargs)
