"""fastText backend: a fastText model over ``__label__0`` .. ``__label__5``, score = expected level.

The score of a document is the expected value of the predicted distribution over the six
levels (``sum_k k * p(k)``, normalized), so it is a float in [0, 5]. Newlines are replaced
by spaces (fastText reads one line per example). fastText's ``predict`` holds the GIL, so
:meth:`FastTextEduClassifier.predict_raw` keeps per-call Python work to a byte translation,
one list comprehension and a few numpy operations; scale out with processes or Ray actors,
not threads.

Two training objectives (hyper-parameter ``objective``):

* ``regression`` (default): an idf-weighted ridge regression on exactly the features fastText
  computes (the mean of the rows of a document's words), fitted with scikit-learn and written
  into a fastText model (:mod:`classifiers.fasttext_linear`): ridge's ranking on skewed real
  labels at fastText's speed. It cannot collapse.
* ``softmax``: fastText's own supervised training, with the levels oversampled towards balance
  (``balance``) so that a majority of level-1 labels cannot make it predict 1 for everything.

Text normalization (``normalize: fold``): ASCII upper case is lowered and ASCII punctuation
becomes a space before fastText sees the text (a byte translation, ~6 us per 2 KB), so
"Students," and "students" are one word.

Training runs in a fresh child process. fasttext-numpy2 0.10.4 (and fasttext-modern 0.10.0)
read uninitialized heap memory while training (measured: ``MALLOC_PERTURB_=170`` turns every
model into one that scores all text 5.0). In a fresh process that memory is zero and
training is bit-for-bit repeatable; in a process whose heap was used before (a test run,
a second training) it holds old data and training fails with "Encountered NaN" or returns a
collapsed model. fasttext-community 0.11.9 does not have the bug. Softmax training also checks
every model on a sample of its own training data and retries (bounded) when it diverged
or collapsed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from classifiers.base import MAX_SCORE, MIN_SCORE, EduClassifier, ModelCard
from classifiers.fasttext_child import LABEL_PREFIX, _train_in_child
from curator.exceptions import ModelError

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "objective": "regression",  # or "softmax" (fastText's own training)
    "normalize": "fold",  # ASCII lower case, ASCII punctuation -> space; "none" keeps the text as it is
    "alpha": 0.1,  # regression: ridge penalty
    "balance": 0.5,  # softmax: oversample level k by (max_count / count_k) ** balance; 0 = off
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


FOLD_PUNCTUATION = '!"#$%&()*+,./:;<=>?@[\\]^_`{|}~'  # normalize: fold turns these ASCII marks into spaces


def _table(fold: bool) -> bytes:
    table = bytearray(range(256))
    table[ord("\n")] = table[ord("\r")] = 32
    table[0] = table[0xFF] = ord("\n")  # the separators of a batch's texts (see fasttext_lines)
    if fold:
        for c in range(ord("A"), ord("Z") + 1):
            table[c] = c + 32
        for c in FOLD_PUNCTUATION.encode():
            table[c] = 32
    return bytes(table)


_FOLD = _table(fold=True)
_KEEP = _table(fold=False)
NORMALIZERS = ("fold", "none")


def fasttext_lines(texts: Sequence[str], normalize: str = "none") -> list[bytes]:
    """``texts`` as fastText input lines (UTF-8 bytes ending in a newline; newlines inside become spaces).

    ``normalize="fold"`` also lowers ASCII upper case and turns ASCII punctuation into spaces. Text that
    cannot be encoded (a lone surrogate) has the offending characters replaced by ``?``. One translation for
    the whole batch: texts are joined by NUL (0xff, never in UTF-8, when a text holds a NUL; fastText reads NUL
    as a space anyway), which the table turns into the newline.
    """
    if not texts:
        return []
    table = _FOLD if normalize == "fold" else _KEEP
    joined = "\x00".join([t or "" for t in texts])
    if joined.count("\x00") == len(texts) - 1:
        data = joined.encode("utf-8", "replace")
    else:  # a text holds NUL: encode one by one and separate by 0xff
        data = b"\xff".join([t.encode("utf-8", "replace").replace(b"\x00", b" ") if t else b"" for t in texts])
    return (data + b"\xff").translate(table).splitlines(keepends=True)


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

    @property
    def _normalize(self) -> str:
        """The text normalization the model was trained with (its card's ``normalize``; older cards: none)."""
        return str(self.card.hyperparameters.get("normalize") or "none")

    # -- inference ---------------------------------------------------------------
    def predict_raw(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        lines = fasttext_lines(texts, self._normalize)
        labels, probs = self._f.multilinePredict(lines, -1, 0.0, "replace")
        k = self._n_labels
        try:
            p = np.asarray(probs, dtype=np.float32)
            v = np.fromiter(
                map(self._label_value.__getitem__, chain.from_iterable(labels)), dtype=np.float32, count=n * k
            )
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
        return self._proba_lines(fasttext_lines(texts, self._normalize))

    def _proba_lines(self, lines: list[bytes]) -> np.ndarray:
        labels, probs = self._f.multilinePredict(lines, -1, 0.0, "replace")
        out = np.zeros((len(lines), 6), dtype=np.float32)
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
        sample_weight: Sequence[float] | None = None,
    ) -> "FastTextEduClassifier":
        """Train on ``texts`` with 0-5 ``labels`` (floats: regression uses them as they are, softmax rounds).

        ``objective: regression`` (default) fits a ridge regression on fastText's own features and
        writes it into a fastText model (:func:`classifiers.fasttext_linear.fit_linear_model`).
        ``objective: softmax`` trains fastText itself on the levels, oversampled towards balance
        (``balance``); each attempt runs in a fresh child process (see the module docstring), and
        an attempt that reports NaN or collapses (:func:`collapse_reason`) is retried with a new
        seed, then half the rate (:func:`attempt_schedule`); the card records what was used.

        Args:
            quantize: ``True`` (or a dict of ``fasttext.quantize`` options) to ship a small
                ``.ftz`` artifact.
            max_attempts: bound on softmax training attempts before :class:`ModelError`.
            sample_weight: per-example weights (regression only), e.g. to weigh teacher labels
                above distillation targets.

        Raises:
            ModelError: no data, an unknown option, or every softmax attempt diverged or
                collapsed (the message gives the examples found per level).
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not len(texts):
            raise ModelError("cannot train a classifier on zero examples")
        hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        if hp["objective"] not in OBJECTIVES:
            raise ModelError(f"unknown fastText objective {hp['objective']!r}; use one of {', '.join(OBJECTIVES)}")
        if hp["normalize"] not in NORMALIZERS:
            raise ModelError(f"unknown normalize {hp['normalize']!r}; use one of {', '.join(NORMALIZERS)}")
        y = np.clip(np.asarray(labels, dtype=np.float64), MIN_SCORE, MAX_SCORE)
        levels = np.clip(np.floor(y + 0.5), MIN_SCORE, MAX_SCORE).astype(int)
        qopts: dict[str, Any] | None = None
        if quantize and hp["objective"] == "softmax":  # a 2-column regression matrix gains nothing from PQ
            qopts = {**DEFAULT_QUANTIZE, **(quantize if isinstance(quantize, dict) else {})}
        lines = fasttext_lines(texts, hp["normalize"])
        with tempfile.TemporaryDirectory(prefix="edu-fasttext-") as tmp:
            train_path = Path(tmp) / "train.txt"
            if hp["objective"] == "regression":
                from classifiers.fasttext_linear import fit_linear_model

                _write_training_file(train_path, lines, levels, np.ones(6), int(hp["seed"]))
                clf, extra = fit_linear_model(cls, lines, y, train_path, Path(tmp), hp, qopts, sample_weight)
                failures: list[dict[str, Any]] = []
            else:
                repeats = balance_repeats(levels, float(hp["balance"]))
                _write_training_file(train_path, lines, levels, repeats, int(hp["seed"]))
                clf, failures = cls._train_softmax(train_path, Path(tmp), hp, qopts, lines, levels, max_attempts)
                extra = {"oversampling": [round(float(r), 3) for r in repeats]}
        clf.card = ModelCard(
            backend=cls.backend,
            name=name,
            artifact="model.ftz" if qopts else "model.bin",
            hyperparameters={**hp, "quantize": qopts},
            training_data={
                "n_examples": int(len(texts)),
                "label_counts": np.bincount(levels, minlength=6).tolist(),
                **extra,
                **(training_data or {}),
            },
            limits=list(limits or []),
        )
        if failures:
            clf.card.training_data["failed_attempts"] = failures
        return clf

    @classmethod
    def _train_softmax(
        cls,
        train_path: Path,
        tmp: Path,
        hp: dict[str, Any],
        qopts: dict[str, Any] | None,
        lines: list[bytes],
        levels: np.ndarray,
        max_attempts: int,
    ) -> tuple["FastTextEduClassifier", list[dict[str, Any]]]:
        """fastText's own training, retried (new seed, then half the rate) while it diverges or collapses."""
        check_idx = _check_sample(len(lines), int(hp["seed"]))
        check_lines = [lines[i] for i in check_idx]
        check_levels = levels[check_idx]
        failures: list[dict[str, Any]] = []
        ft_hp = {k: v for k, v in hp.items() if k in FASTTEXT_OPTIONS}
        for attempt, (lr, seed) in enumerate(attempt_schedule(float(hp["lr"]), int(hp["seed"]), max_attempts)):
            out = tmp / f"model-{attempt}{'.ftz' if qopts else '.bin'}"
            error = _train_in_child(train_path, out, {**ft_hp, "lr": lr, "seed": seed}, qopts)
            if error is None:
                clf = cls._load(out, ModelCard(backend=cls.backend))
                error = collapse_reason(clf._proba_lines(check_lines), check_levels)
                if error is None:
                    hp.update(lr=lr, seed=seed)
                    return clf, failures
            failures.append({"lr": lr, "seed": seed, "error": error})
        counts = np.bincount(levels, minlength=6).tolist()
        raise ModelError(
            f"fastText training failed {len(failures)} times ({'; '.join(f['error'] for f in failures)}); "
            f"examples per level 0..5: {counts}. Add data (at least {MIN_PER_LEVEL} examples at two or more levels), "
            "or use the default objective (regression)."
        )


OBJECTIVES = ("regression", "softmax")
MIN_PER_LEVEL = 20
# the keys of DEFAULT_HYPERPARAMETERS that are fastText's own options (the rest are ours)
FASTTEXT_OPTIONS = (
    "lr",
    "epoch",
    "dim",
    "wordNgrams",
    "minCount",
    "bucket",
    "loss",
    "thread",
    "seed",
    "minn",
    "maxn",
    "ws",
    "neg",
    "t",
    "lrUpdateRate",
)


def balance_repeats(levels: np.ndarray, power: float) -> np.ndarray:
    """How many times each level's examples are written: ``(max_count / count) ** power`` (>= 1; 0 = off)."""
    counts = np.bincount(levels, minlength=6).astype(np.float64)
    rep = np.ones(6)
    present = counts > 0
    if power > 0 and present.any():
        rep[present] = (counts[present].max() / counts[present]) ** power
    return rep


def _write_training_file(path: Path, lines: list[bytes], levels: np.ndarray, repeats: np.ndarray, seed: int) -> None:
    """fastText's training file: ``__label__k`` + the line, level k written ``repeats[k]`` times (seeded, shuffled)."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    for k in range(6):
        idx = np.flatnonzero(levels == k)
        if not len(idx):
            continue
        whole, frac = divmod(float(repeats[k]), 1.0)
        order.extend(np.repeat(idx, int(whole)).tolist())
        order.extend(rng.choice(idx, int(round(frac * len(idx))), replace=False).tolist())
    order = rng.permutation(np.asarray(order, dtype=np.int64)).tolist()
    with open(path, "wb") as f:
        for i in order:
            f.write(f"{LABEL_PREFIX}{int(levels[i])} ".encode() + lines[i])
        for k in range(6):  # every level is a label of the model, even one without examples
            f.write(f"{LABEL_PREFIX}{k}\n".encode())


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
    predictions no better than always answering the majority level, with scores that do
    not rank the texts by level either (correlation < 0.2).
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
    if accuracy <= majority + 1e-9 and not corr >= 0.2:
        top = int(np.bincount(pred, minlength=6).argmax())
        return (
            f"collapsed: mostly one predicted level ({top}) on its training texts, accuracy {accuracy:.2f}, "
            f"correlation {corr:.2f}"
        )
    return None
