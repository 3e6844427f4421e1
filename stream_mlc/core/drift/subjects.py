"""Subjects of a drift tracker: the names it follows, their indices and per-subject arrays.

Every tracker of this package follows *subjects* (feature names, labels) that appear in the
stream: a subject gets the next index when first seen, up to ``max_subjects``, and its
state lives in numpy arrays indexed by subject, grown by doubling when full. A subject goes
through three stages: ``WARMUP`` (skip ``warmup_size`` events), ``COLLECT`` (collect a
reference), ``READY`` (compare each window with its reference).

:class:`Subjects` holds what the trackers share: :meth:`~Subjects.register`,
:meth:`~Subjects.rebaseline`, :meth:`~Subjects.restart`, the growth of the arrays and the
end of the warm-up at a window close. A tracker says which arrays are per subject
(:attr:`~Subjects._per_subject`) and what a (re)start does (:meth:`~Subjects._start`), and
may change the rule for a subject first seen late (:meth:`~Subjects._begin`).
"""

from __future__ import annotations

import numpy as np

WARMUP, COLLECT, READY = 0, 1, 2


class Subjects:
    """Base of the drift trackers: the subjects they follow and their per-subject arrays.

    Subclasses call :meth:`_init_subjects` in their constructor, allocate their arrays with
    :attr:`_capacity` rows (along the array's subject axis) and implement :meth:`_start`.

    Attributes
    ----------
    names
        The subjects, in order of registration (a subject's index is its position).
    index
        Index of each subject by name.
    max_subjects
        Names beyond this many are ignored.
    windows
        Windows closed.
    """

    #: Per-subject arrays, as ``(attribute, fill, axis)``: the attribute's subject axis and
    #: the value of new rows. An attribute the instance does not have is skipped.
    _per_subject: tuple[tuple[str, float, int], ...] = ()

    def _init_subjects(self, max_subjects: int, capacity: int = 16) -> None:
        self.max_subjects = max_subjects
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.windows = 0
        self._capacity = capacity

    def register(self, name: str) -> int:
        """The index of ``name``, registering it if there is room; -1 when ignored."""
        i = self.index.get(name)
        if i is not None:
            return i
        if len(self.names) >= self.max_subjects:
            return -1
        i = len(self.names)
        if i >= self._capacity:
            self._grow()
        self.names.append(name)
        self.index[name] = i
        self._begin(i)
        return i

    def rebaseline(self, name: str) -> None:
        """Forget ``name``'s reference: warm up and collect a new one."""
        i = self.index.get(name)
        if i is not None:
            self._start(i)

    def restart(self) -> None:
        """Forget every reference; the next events form new ones (as at the start)."""
        self._restart_phase()
        for i in range(len(self.names)):
            self._start(i)

    def state(self, name: str) -> int | None:
        """WARMUP (0), COLLECT (1) or READY (2); None for a name not monitored."""
        i = self.index.get(name)
        return None if i is None else int(self._state[i])

    # -- hooks -----------------------------------------------------------------------

    def _begin(self, i: int) -> None:
        """Set up the new subject ``i``; by default it starts (warms up, collects)."""
        self._start(i)

    def _start(self, i: int) -> None:  # pragma: no cover - abstract
        """Forget subject ``i``'s reference: it warms up and collects a new one."""
        raise NotImplementedError

    def _restart_phase(self) -> None:
        """Reset what the tracker keeps across subjects on :meth:`restart` (nothing here)."""

    # -- helpers ---------------------------------------------------------------------

    def _enter_warmup(self, i: int) -> None:
        """Put subject ``i`` back to its first stage, for trackers with ``_state``, ``_wait``
        and ``_collected`` arrays: WARMUP for ``warmup_size`` events (COLLECT without one)."""
        self._state[i] = WARMUP if self.warmup_size else COLLECT
        self._wait[i] = self.warmup_size
        self._collected[i] = 0

    def _end_warmup(self, state: np.ndarray, n: int) -> None:
        """Count a window of ``n`` events off the subjects in WARMUP in ``state`` (their stage
        before the window); those done move to COLLECT."""
        warming = np.flatnonzero(state == WARMUP)
        if len(warming):
            self._wait[warming] -= n
            self._state[warming[self._wait[warming] <= 0]] = COLLECT

    def _grow(self) -> None:
        """Double the capacity of the per-subject arrays."""
        cap = 2 * self._capacity
        for attribute, fill, axis in self._per_subject:
            a = getattr(self, attribute, None)
            if a is None:
                continue
            shape = list(a.shape)
            shape[axis] = cap
            out = np.full(shape, fill, dtype=a.dtype)
            out[(slice(None),) * axis + (slice(0, a.shape[axis]),)] = a
            setattr(self, attribute, out)
        self._capacity = cap
