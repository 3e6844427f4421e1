"""Streaming readers of multi-label data sets: ARFF (MULAN, MEKA), JSONL captures, synthetic, Yeast.

Everything is reached through :func:`open_dataset`, which returns a re-iterable
:class:`Dataset` of :class:`Record` (see :mod:`stream_mlc.io.datasets`).
"""

from stream_mlc.io.datasets import Dataset, Record, open_dataset, yeast

__all__ = ["Dataset", "Record", "open_dataset", "yeast"]
