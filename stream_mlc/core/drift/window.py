"""One tumbling window of sparse ``{name: value}`` events, buffered for vectorised binning.

Per event, only the values *present* are stored (the cost is proportional to them); a name
absent from an event is a 0 that the trackers count by subtraction from the window's event
count. Events are grouped by their tuple of names (a "schema"):

- a schema seen ``DENSE_ROWS`` times is cached with the column index of each name, and
  its events' values are appended to one list: at the window close they form a dense
  ``rows x names`` matrix, binned with a few whole-matrix numpy operations;
- an event whose schema is not (yet) cached goes to a flat buffer of (name, value) pairs,
  mapped to column indices in one pass at the close (sparse streams, where name tuples
  rarely repeat).

The cache is cleared between windows when it holds more than ``max_schemas`` tuples, so
memory stays bounded whatever the stream.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

# A schema with fewer events than this in a window is binned with the flat pairs; a new
# schema is cached (promoted) at its DENSE_ROWS-th event.
DENSE_ROWS = 8
_NEW = -1  # unknown name (flat mapping)


class DictWindow:
    """Base of the dict-valued trackers: subclasses provide ``index`` and :meth:`register`.

    Attributes
    ----------
    n
        Events in the current window.
    ignored_values
        Values dropped because their name could not be registered (subject limit).
    """

    index: dict[str, int]

    def _init_window(self, window_size: int, max_schemas: int) -> None:
        self.window_size = window_size
        self.max_schemas = max_schemas
        self.n = 0
        self.ignored_values = 0
        self._schemas: dict[tuple[str, ...], int] = {}
        self._cols: list[np.ndarray] = []
        self._buf: list[list[float]] = []
        self._flat_names: list[str] = []
        self._flat_values: list[float] = []

    def register(self, name: str) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def observe(self, values: dict[str, float]) -> bool:
        """Add one event; True when the window is full (the caller closes it)."""
        names = tuple(values)
        sid = self._schemas.get(names, -1)
        if sid >= 0:
            self._buf[sid].extend(values.values())
        elif sid > -DENSE_ROWS:  # -k: seen k times, not cached yet
            self._schemas[names] = sid - 1
            self._flat_names.extend(names)
            self._flat_values.extend(values.values())
        else:
            self._buf[self._promote(names)].extend(values.values())
        self.n += 1
        return self.n >= self.window_size

    def _promote(self, names: tuple[str, ...]) -> int:
        cols = np.fromiter(map(self.index.get, names, repeat(_NEW)), dtype=np.intp, count=len(names))
        for j in np.flatnonzero(cols == _NEW):
            cols[j] = self.register(names[j])
        sid = len(self._cols)
        self._schemas[names] = sid
        self._cols.append(cols)
        self._buf.append([])
        return sid

    def _drain(self) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
        """Empty the window's buffers into ``(blocks, flat_cols, flat_values)``.

        ``blocks`` are ``(cols, matrix)``: ``matrix[:, j]`` holds the values of subject
        ``cols[j]`` in the block's events. Values of ignored names are dropped (and counted).
        """
        blocks = []
        flat_cols: list[np.ndarray] = []
        flat_vals: list[np.ndarray] = []
        for sid, buf in enumerate(self._buf):
            if not buf:
                continue
            cols = self._cols[sid]
            vals = np.fromiter(buf, dtype=float, count=len(buf))
            buf.clear()
            rows = len(vals) // len(cols)
            if rows < DENSE_ROWS:
                flat_cols.append(np.tile(cols, rows))
                flat_vals.append(vals)
                continue
            matrix = vals.reshape(rows, len(cols))
            keep = cols >= 0
            if not keep.all():
                self.ignored_values += rows * int(len(cols) - keep.sum())
                matrix, cols = matrix[:, keep], cols[keep]
            if len(cols):
                blocks.append((cols, matrix))
        if self._flat_names:
            names = self._flat_names
            cols = np.fromiter(map(self.index.get, names, repeat(_NEW)), dtype=np.intp, count=len(names))
            unknown = np.flatnonzero(cols == _NEW)
            if len(unknown):  # new names (registered in order of appearance) or ignored ones
                register = self.register
                cols[unknown] = [register(names[i]) for i in unknown]
            flat_cols.append(cols)
            flat_vals.append(np.fromiter(self._flat_values, dtype=float, count=len(self._flat_values)))
            self._flat_names = []
            self._flat_values = []
        if flat_cols:
            cols = np.concatenate(flat_cols)
            vals = np.concatenate(flat_vals)
            keep = cols >= 0
            if not keep.all():
                self.ignored_values += int(len(cols) - keep.sum())
                cols, vals = cols[keep], vals[keep]
        else:
            cols, vals = np.empty(0, np.intp), np.empty(0)
        if len(self._schemas) > self.max_schemas:
            self._schemas.clear()
            self._cols.clear()
            self._buf.clear()
        return blocks, cols, vals


def group(cols: np.ndarray, vals: np.ndarray, n_subjects: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort flat pairs by subject: ``(cols, vals, bounds)``, subject ``s`` in ``bounds[s]:bounds[s+1]``."""
    # A stable sort of 16-bit keys is a radix sort in numpy: linear time.
    keys = cols.astype(np.int16 if n_subjects < 2**15 else np.int32)
    order = np.argsort(keys, kind="stable")
    cols, vals = cols[order], vals[order]
    bounds = np.searchsorted(cols, np.arange(n_subjects + 1), side="left")
    return cols, vals, bounds
