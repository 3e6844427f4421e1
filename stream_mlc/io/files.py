"""Open data files, plain or compressed, and name data sets after them.

Shared by the ARFF (:mod:`stream_mlc.io.arff`) and JSONL (:mod:`stream_mlc.io.jsonl`) readers:
compression (gzip, bzip2, xz) is told by the file's first bytes, not its name, and every
file is streamed, never loaded whole.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from typing import IO

from stream_mlc.errors import DatasetError

__all__ = ["dataset_stem", "open_binary", "open_text"]


def dataset_stem(path: str) -> str:
    """The file name without directory and ARFF/JSONL/compression suffixes.

    Parameters
    ----------
    path
        A data file path.

    Returns
    -------
    str

    Examples
    --------
    >>> dataset_stem("/data/scene/scene.arff.bz2"), dataset_stem("yeast.arff"), dataset_stem("cap.jsonl.gz")
    ('scene', 'yeast', 'cap')
    """
    base = os.path.basename(path)
    lowered = base.lower()
    for suffix in (".gz", ".bz2", ".xz"):
        if lowered.endswith(suffix):
            base, lowered = base[: -len(suffix)], lowered[: -len(suffix)]
            break
    for suffix in (".arff", ".jsonl"):
        if lowered.endswith(suffix):
            return base[: -len(suffix)]
    return base


def open_binary(path: str) -> IO[bytes]:
    """Open a plain, gzip, bzip2 or xz file for reading bytes (compression told by magic bytes).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    binary file object
        The caller closes it.

    Raises
    ------
    DatasetError
        The file does not exist or cannot be read.
    """
    try:
        with open(path, "rb") as probe:
            magic = probe.read(6)
        if magic.startswith(b"\x1f\x8b"):
            return gzip.open(path, "rb")
        if magic.startswith(b"BZh"):
            return bz2.open(path, "rb")
        if magic.startswith(b"\xfd7zXZ\x00"):
            return lzma.open(path, "rb")
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory, not a data file") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from None


def open_text(path: str, encoding: str = "utf-8") -> io.TextIOWrapper:
    """Open a plain, gzip, bzip2 or xz file as text lines (see :func:`open_binary`).

    Parameters
    ----------
    path
        The file.
    encoding
        Its text encoding.

    Returns
    -------
    io.TextIOWrapper
        Universal newlines; the caller closes it.

    Raises
    ------
    DatasetError
        The file does not exist or cannot be read.
    """
    return io.TextIOWrapper(open_binary(path), encoding=encoding, newline=None)
