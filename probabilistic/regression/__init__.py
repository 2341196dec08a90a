"""1D polynomial regression experiments (``train_bbb.py``)."""
