"""Committed, reproducible recipes that build the models shipped with edu-curator."""
