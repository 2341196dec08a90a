"""Split Stroke-MNIST experiments (``train_split_smnist.py``)."""
