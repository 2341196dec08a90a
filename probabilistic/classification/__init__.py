"""The classification runners of the posterior-replay paper (GMM, SplitMNIST, PermutedMNIST, SplitCIFAR)."""
