"""Hidden-state analyses of trained RNN runs: PCA dimensionality, subspace overlap, weight importance, supervised
dimensionality reduction, accuracy vs BPTT distance and output-head similarity (spec_cl_in_rnns.md §5.2)."""
