"""Sequential Stroke-MNIST experiments (``train_seq_smnist.py``)."""
