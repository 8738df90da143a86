"""The trainer's record: one row per iteration, kept as a float64 table."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["History", "HISTORY_FIELDS"]

HISTORY_FIELDS = ("iteration", "V", "D_real", "D_fake", "d_loss", "g_loss",
                  "d_grad_norm", "g_grad_norm")


class History(Sequence):
    """The trainer's record, one row per iteration, kept as a float64 table.

    It reads like a list of row dicts -- ``history[-1]["d_loss"]``, ``for row in
    history``, ``len(history)``, ``history == [{...}, ...]`` -- with
    ``row["iteration"]`` an int and every other field a float. A row costs
    8 bytes a field (64 bytes for ``HISTORY_FIELDS``) instead of ~480 for a dict
    of Python floats: a 1,000-epoch MNIST run has 500,000 rows. ``column(name)``
    and ``table()`` give the numbers as arrays without copying.

    Unlike a list: a row read from it is a new dict (changing it leaves the
    record as it was), every value is stored as a float64 (``None`` becomes
    NaN), and only ``append``, ``extend`` and ``copy`` change or copy it.
    """

    def __init__(self, fields=HISTORY_FIELDS, rows=()):
        self.fields = tuple(fields)
        if not self.fields or self.fields[0] != "iteration" or len(set(self.fields)) != len(self.fields):
            raise ValueError(f"History fields must be distinct and start with 'iteration', got {self.fields}")
        self._index = {f: j for j, f in enumerate(self.fields)}
        self._table = np.empty((16, len(self.fields)), dtype=np.float64)
        self._n = 0
        for row in rows:
            self.append(row)

    @classmethod
    def from_table(cls, table, fields=HISTORY_FIELDS):
        """A History holding ``table`` (n x len(fields), any real dtype; copied)."""
        table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != len(fields):
            raise ValueError(f"History table must have shape (n, {len(fields)}) for fields {tuple(fields)}, "
                             f"got {table.shape}")
        h = cls(fields)
        h._table = np.empty((max(16, len(table)), len(h.fields)), dtype=np.float64)
        h._table[:len(table)] = table
        h._n = len(table)
        return h

    @classmethod
    def from_state(cls, d):
        """The History saved in a trainer's state dict ``d`` (its ``history`` table and
        ``history_fields``), e.g. ``History.from_state(checkpoint.read(path).state())``."""
        for key in ("history", "history_fields"):
            if key not in d:
                raise KeyError(f"the state holds no {key!r}: not a trainer's state")
        fields = [str(f) for f in d["history_fields"]]
        table = d["history"]
        return cls.from_table(table.reshape(-1, len(fields)) if table.size == 0 else table, fields)

    def copy(self):
        """An independent copy (appending to one leaves the other as it was)."""
        return History.from_table(self.table(), self.fields)

    __copy__ = copy

    def extend(self, rows):
        for row in rows:
            self.append(row)

    def append(self, row):
        """Add one row: a mapping with a number for every field (other keys are an error)."""
        if set(row) != set(self.fields):
            raise KeyError(f"History row has fields {sorted(row)}, expected {sorted(self.fields)}")
        if self._n == len(self._table):                 # grow by doubling: amortised O(1)
            grown = np.empty((max(16, 2 * len(self._table)), len(self.fields)), dtype=np.float64)
            grown[:self._n] = self._table[:self._n]
            self._table = grown
        self._table[self._n] = [row[f] for f in self.fields]
        self._n += 1

    def _row(self, values):
        return {f: (int(v) if f == "iteration" else float(v)) for f, v in zip(self.fields, values)}

    def __len__(self):
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._row(v) for v in self.table()[i]]
        return self._row(self.table()[range(self._n)[i]])

    def __iter__(self):
        for values in self.table():
            yield self._row(values)

    def __eq__(self, other):
        if isinstance(other, History):
            return self.fields == other.fields and np.array_equal(self.table(), other.table())
        if isinstance(other, (list, tuple)):
            return len(other) == self._n and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"History({self._n} rows, fields {self.fields})"

    def table(self):
        """The rows as an (n, len(fields)) float64 array (a read-only view)."""
        view = self._table[:self._n]
        view.flags.writeable = False
        return view

    def column(self, name):
        """One field over all rows, as a float64 array (a read-only view)."""
        if name not in self._index:
            raise KeyError(f"History has no field {name!r}; it has {self.fields}")
        return self.table()[:, self._index[name]]

    @property
    def nbytes(self):
        """Bytes held by the table, spare capacity included."""
        return self._table.nbytes

