"""Copy Task experiments (``train_copy.py``)."""
