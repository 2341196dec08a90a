"""Split AudioSet experiments (``train_split_audioset.py``)."""
