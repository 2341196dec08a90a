"""Student-teacher experiments (``train_student.py``)."""
