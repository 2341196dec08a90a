"""Continual-learning task sets: SplitMNIST, PermutedMNIST, SplitCIFAR-10/100, 2D GMM, 1D regression."""
