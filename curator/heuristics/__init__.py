"""Text quality heuristics (Gopher / C4 / FineWeb-style rules) and their stage."""

from curator.heuristics.rules import RULES, TextStats, failed_rules
from curator.heuristics.stage import HeuristicStage

__all__ = ["RULES", "TextStats", "failed_rules", "HeuristicStage"]
