"""``python -m hpsearch``: run or continue a grid search (see :mod:`hpsearch.hpsearch`)."""

import signal

from hpsearch.hpsearch import _sigterm_to_exit, main

signal.signal(signal.SIGTERM, _sigterm_to_exit)
main()
