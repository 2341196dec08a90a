"""Posterior Meta-Replay for Continual Learning (NeurIPS 2021): posteriors, prior matching and runners."""
