"""SplitMNIST and PermutedMNIST: thin launchers ``train_split_*.py`` and ``train_perm_*.py``."""
