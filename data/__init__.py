"""Tensor-resident dataset handlers and the continual-learning task sets built on them.

``data.dataset`` holds the base API (splits as tensors on the device, seeded batches, per-batch transforms),
``data.mnist`` / ``data.cifar`` read the public files, ``data.special`` builds the task sets of the papers.
Where the files go, their checksums and the cache: ``docs/datasets.rst``.
"""
