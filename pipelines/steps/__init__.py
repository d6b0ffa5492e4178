"""Build steps: the step kinds (:mod:`.base`) and one module per step or family.

The list that composes them is :data:`pipelines.build.STEPS`.
"""

from pipelines.steps.base import CorpusStep, RowStep, Step, inputs
from pipelines.steps.filters import HeuristicFilter, LanguageFilter, ScoreThreshold, UrlFilter

__all__ = [
    "CorpusStep",
    "HeuristicFilter",
    "LanguageFilter",
    "RowStep",
    "ScoreThreshold",
    "Step",
    "UrlFilter",
    "inputs",
]
