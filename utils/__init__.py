"""Shared infrastructure: CLI flags, run environment, summaries, checkpoints, regularisers."""
