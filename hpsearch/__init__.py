"""Hyperparameter search: grid driver, cluster backends, post-processing and seed gathering.

Reads the summary files (``performance_overview.txt``) that every run writes with the original keys, so grids
from the papers' ``hpsearch_config_*.py`` modules keep working.
"""
