"""Versioned prompt templates (YAML): annotation rubric, synthesis templates, audiences."""
