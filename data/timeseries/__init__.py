"""Sequence datasets of the RNN paper: the Copy Task, Stroke-MNIST (Split and Sequential SMNIST)."""
