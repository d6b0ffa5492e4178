"""Benchmark decontamination by hashed word n-gram overlap (index, stage, decontaminate)."""

from curator.decontam.decontaminate import decontaminate
from curator.decontam.index import NgramIndex, build_index, load_benchmarks, read_items
from curator.decontam.stage import DecontamStage

__all__ = ["DecontamStage", "NgramIndex", "build_index", "decontaminate", "load_benchmarks", "read_items"]
