"""Part-of-speech tagging experiments (``train_pos.py``)."""
