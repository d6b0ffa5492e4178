"""The one interface every educational-level classifier backend implements, and its model card.

A model directory holds one artifact file (e.g. ``model.ftz`` or ``model.joblib``) and
``model_card.json`` (:class:`ModelCard`): backend, name, hyper-parameters, training-data
summary, metrics, the artifact's sha256, version, creation time and known limits.
:func:`classifiers.load_classifier` reads the card to pick the backend, then checks the
artifact against the card's sha256 before loading it, so a truncated or swapped file fails
loudly instead of scoring silently wrong.
"""

from __future__ import annotations

import hashlib
import json
import platform
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from classifiers.levels import MAX_SCORE, MIN_SCORE, N_CLASSES, scores_to_int
from curator.exceptions import ModelError

__all__ = [
    "CARD_FILE",
    "EduClassifier",
    "MAX_SCORE",
    "MIN_SCORE",
    "ModelCard",
    "N_CLASSES",
    "scores_to_int",
    "sha256_file",
]

CARD_FILE = "model_card.json"
ARTIFACT_NAMES = ("model.bin", "model.ftz", "model.joblib")  # every backend's artifact file names


class ModelCard(BaseModel):
    """What a model is, how it was made, how good it is, and what it must not be used for.

    Args:
        backend: ``fasttext`` or ``sklearn``; :func:`classifiers.load_classifier` dispatches on it.
        name: short model name; the version is ``{name}-{sha256[:12]}``.
        artifact: file name of the model artifact inside the model directory.
        sha256: sha256 of the artifact file (filled by ``save``).
        hyperparameters: training hyper-parameters, as passed to the backend.
        training_data: summary of the training data (sources, row counts per label, recipe).
        metrics: validation metrics (see :mod:`classifiers.evaluation`).
        limits: known limitations, in plain sentences.
        calibration: the :class:`classifiers.calibration.Calibration` that maps the backend's raw score to
            ``edu_score`` (``None``: the raw score is used as it is).
    """

    model_config = ConfigDict(extra="allow")

    backend: str
    name: str = "edu-classifier"
    artifact: str = ""
    sha256: str = ""
    version: str = ""
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    training_data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    limits: list[str] = Field(default_factory=list)
    calibration: dict[str, Any] | None = None
    score_range: tuple[float, float] = (MIN_SCORE, MAX_SCORE)
    environment: dict[str, str] = Field(default_factory=lambda: {"python": platform.python_version()})

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / CARD_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, directory: str | Path) -> "ModelCard":
        path = Path(directory) / CARD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelError(
                f"no {CARD_FILE} in {Path(directory)}: not a model directory. Train one with "
                "`curator train-classifier --annotations FILE --out DIR` or use `--model default`."
            ) from exc
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path} is unreadable or not JSON ({exc}); re-train or re-install the model.") from exc
        try:
            return cls.model_validate(data)
        except Exception as exc:  # pydantic.ValidationError
            raise ModelError(f"{path} is not a valid model card: {exc}") from exc


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class EduClassifier(ABC):
    """An educational-level classifier: text in, float score in [0, 5] out.

    Subclasses set ``backend``, implement :meth:`predict_raw`, :meth:`_write_artifact` and
    :meth:`_load`. Instances carry their :class:`ModelCard` as ``card``; when the card holds a
    calibration, :meth:`predict` maps raw scores through it (see :mod:`classifiers.calibration`), so the
    build, the API and ``predict_int`` all use the calibrated ``edu_score``.
    """

    backend: ClassVar[str] = ""
    artifact_name: ClassVar[str] = "model.bin"

    def __init__(self, card: ModelCard) -> None:
        self.card = card

    @property
    def version(self) -> str:
        """``{name}-{sha256[:12]}``: what the scoring stage writes to ``classifier_version``."""
        if self.card.sha256:
            return f"{self.card.name}-{self.card.sha256[:12]}"
        return f"{self.card.name}-unsaved"

    @abstractmethod
    def predict_raw(self, texts: Sequence[str]) -> np.ndarray:
        """The backend's uncalibrated scores for ``texts`` (float32, one per text, same order)."""

    @property
    def calibration(self) -> Any:
        """The card's :class:`classifiers.calibration.Calibration`, or ``None``."""
        cal = self.__dict__.get("_calibration_cache")
        if cal is None or cal[0] is not self.card.calibration:
            from classifiers.calibration import Calibration

            obj = Calibration.model_validate(self.card.calibration) if self.card.calibration else None
            cal = (self.card.calibration, obj)
            self.__dict__["_calibration_cache"] = cal
        return cal[1]

    def set_calibration(self, calibration: Any) -> None:
        """Record ``calibration`` (a :class:`classifiers.calibration.Calibration` or ``None``) in the card."""
        self.card.calibration = calibration.model_dump(mode="json") if calibration is not None else None

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``edu_score`` for ``texts``: float32 in [0, 5], calibrated when the card holds a calibration."""
        raw = self.predict_raw(texts)
        cal = self.calibration
        if cal is None:
            return np.clip(np.asarray(raw, dtype=np.float32), MIN_SCORE, MAX_SCORE)
        return cal.apply(raw)

    def predict_int(self, texts: Sequence[str]) -> np.ndarray:
        """``edu_int_score``: integer levels 0..5 (int8) of :meth:`predict` (:func:`scores_to_int`)."""
        return scores_to_int(self.predict(texts))

    @abstractmethod
    def _write_artifact(self, path: Path) -> None:
        """Write the model artifact to ``path``."""

    @classmethod
    @abstractmethod
    def _load(cls, artifact: Path, card: ModelCard) -> "EduClassifier":
        """Load the artifact (already sha256-checked) into an instance."""

    def save(self, directory: str | Path) -> Path:
        """Write the artifact and ``model_card.json`` (with sha256 and version) to ``directory``.

        Returns:
            The model directory.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        name = self.card.artifact or self.artifact_name
        tmp = out / (name + ".tmp")
        self._write_artifact(tmp)
        tmp.replace(out / name)
        self.card.artifact = name
        self.card.backend = self.backend
        self.card.sha256 = sha256_file(out / name)
        self.card.version = self.version
        self.card.write(out)
        for stale in ARTIFACT_NAMES:  # a previous model's artifact of another kind would sit beside this one
            if stale != name and (out / stale).is_file():
                (out / stale).unlink()
        return out

    @classmethod
    def load(cls, directory: str | Path) -> "EduClassifier":
        """Load a model directory written by :meth:`save` (checks the artifact's sha256)."""
        directory = Path(directory)
        card = ModelCard.read(directory)
        if card.backend != cls.backend:
            raise ModelError(
                f"{directory} holds a {card.backend!r} model, not {cls.backend!r}; use classifiers.load_classifier"
            )
        artifact = directory / (card.artifact or cls.artifact_name)
        if not artifact.is_file():
            raise ModelError(
                f"model artifact {artifact} is missing; re-train the model or re-install edu-curator "
                "(the default model ships inside the package)."
            )
        if card.sha256 and sha256_file(artifact) != card.sha256:
            raise ModelError(
                f"model artifact {artifact} does not match the sha256 in its model card (corrupt or replaced); "
                "re-train the model or re-install edu-curator."
            )
        try:
            return cls._load(artifact, card)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"cannot load {cls.backend} model {artifact}: {exc}; re-train it.") from exc
