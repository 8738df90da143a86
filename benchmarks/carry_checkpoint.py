"""Move a long run's checkpoint to a GPU machine and back, within the transfer limits.

The device tool carries at most 64 MiB of working tree to the GPU machine and
brings back at most 8 files of 16 MiB each (64 MiB together). The Table 1
run's ``last.npz`` is larger (30 MB of weights and momentum buffers, plus a
64-byte history row per iteration: 61 MB at epoch 980), so it travels in
parts:

    # here: parts of at most 15 MiB, history cut to its last 500 rows
    python benchmarks/carry_checkpoint.py split benchmarks/runs/table1-simultaneous-s0/last.npz \\
        .carry/parts --keep-history 500
    # there (carry .carry): join, train on, split again into $OUT with the new rows only
    python benchmarks/carry_checkpoint.py join .carry/parts/*.npz RUN/last.npz --cut-history
    ...  table1_parzen.py --resume --out RUN ...
    python benchmarks/carry_checkpoint.py split RUN/last.npz $OUT --since-iteration I
    # here: join, putting the rows the parts lack back from the checkpoint they came from
    python benchmarks/carry_checkpoint.py join PARTS/*.npz last.npz --history-from last_before.npz

Each part is an ``.npz`` with whole checkpoint entries (an entry larger than
a part is cut along its first axis into pieces ``KEY@@0``, ``KEY@@1``, ...)
and a manifest (``carry/manifest``, JSON) naming the source, the part's
number, how many parts there are and the iteration the parts' history
starts at (rows are matched by their ``iteration`` column, never by position). The history is stored deflate-compressed (it shrinks by
about a third); the rest is stored as is. ``join`` checks that every part of
one split is there, puts the entries back, re-attaches the history rows
before the cut from ``--history-from`` (checking that the two meet without a
gap and agree, bit for bit, on the iterations both hold), writes the checkpoint atomically and reads it
back with ``minigan.checkpoint.read``. Nothing is trained or changed: the
joined file holds the same arrays, bit for bit, as the one split.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import uuid
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minigan import checkpoint  # noqa: E402

MANIFEST = "carry/manifest"
PIECE = "@@"


class CarryError(Exception):
    """The parts cannot be made or put back together; the message says why."""


def _npy_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def _write_npz(path, entries, compress=()):
    """An .npz holding ``entries`` (name -> array); names in ``compress`` deflated."""
    def write(f):
        with zipfile.ZipFile(f, "w") as z:
            for name, array in entries.items():
                how = zipfile.ZIP_DEFLATED if name.split(PIECE)[0] in compress else zipfile.ZIP_STORED
                z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)),
                           _npy_bytes(array), compress_type=how, compresslevel=1 if how else None)
    checkpoint.atomic_write(path, write)


def _pieces(name, array, limit):
    """(name, array) cut along axis 0 into pieces of at most ``limit`` bytes."""
    if array.nbytes <= limit or array.ndim == 0 or len(array) < 2:
        return [(name, array)]
    rows = max(1, int(limit // max(1, array[0].nbytes)))
    return [(f"{name}{PIECE}{i}", array[start:start + rows])
            for i, start in enumerate(range(0, len(array), rows))]


def split(source, folder, part_mb=15.0, keep_history=None, since_iteration=None):
    """Write ``source``'s entries as parts of at most ``part_mb`` MiB into ``folder``; returns the paths."""
    ckpt = checkpoint.read(source)                  # a valid checkpoint, or CheckpointError
    arrays = dict(ckpt.arrays)
    history = arrays["history"]
    if keep_history is not None and since_iteration is not None:
        raise CarryError("give --keep-history or --since-iteration, not both")
    if keep_history is not None:
        if keep_history < 0:
            raise CarryError(f"--keep-history {keep_history}: a number of rows, >= 0")
        history = history[len(history) - min(len(history), int(keep_history)):]
    elif since_iteration is not None:
        history = history[history[:, 0] >= since_iteration]
    arrays["history"] = history
    # rows are matched by iteration: with none kept, the parts' history "starts" after the last iteration
    start = int(history[0, 0]) if len(history) else ckpt.iteration + 1
    split_id = uuid.uuid4().hex
    if not part_mb >= 0.25:
        raise CarryError(f"--part-mb {part_mb}: parts must hold at least 0.25 MiB")
    limit = int(part_mb * 2 ** 20) - 2 ** 16        # room for the zip's headers and the manifest
    pieces = [p for name in sorted(arrays) for p in _pieces(name, arrays[name], limit)]
    parts, size = [[]], 0
    for name, array in pieces:                      # fill each part up to the limit, in key order
        if parts[-1] and size + array.nbytes > limit:
            parts.append([])
            size = 0
        parts[-1].append((name, array))
        size += array.nbytes
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(source).stem
    paths = []
    for i, entries in enumerate(parts):
        manifest = {"source": os.path.basename(os.fspath(source)), "iteration": ckpt.iteration,
                    "part": i, "parts": len(parts),
                    "history_first_iteration": start, "split": split_id,
                    "entries": [n for n, _ in entries]}
        path = folder / f"{stem}.part{i}of{len(parts)}.npz"
        _write_npz(path, {**dict(entries), MANIFEST: np.array(json.dumps(manifest))}, compress=("history",))
        paths.append(path)
    return paths


def _read_parts(paths):
    manifests, entries = [], {}
    for path in paths:
        try:
            with np.load(path, allow_pickle=False) as z:
                got = {k: z[k] for k in z.files}
        except Exception as exc:
            raise CarryError(f"{path}: not a readable part ({type(exc).__name__}: {exc})") from None
        if MANIFEST not in got:
            raise CarryError(f"{path}: no {MANIFEST} entry (not written by carry_checkpoint.py split)")
        manifests.append((path, json.loads(str(got.pop(MANIFEST)))))
        entries.update(got)
    first = manifests[0][1]
    for path, m in manifests:
        for key in ("split", "source", "iteration", "parts", "history_first_iteration"):
            if m[key] != first[key]:
                raise CarryError(f"{path} belongs to another split ({key} {m[key]!r}, not {first[key]!r})")
    have = sorted(m["part"] for _, m in manifests)
    if have != list(range(first["parts"])):
        missing = sorted(set(range(first["parts"])) - set(have))
        raise CarryError(f"parts of {first['source']} (iteration {first['iteration']}): have {have}, "
                         f"missing {missing}" if missing else f"a part was given twice: {have}")
    return first, entries


def join(paths, out, history_from=None, cut_history=False):
    """Put the parts back into one checkpoint at ``out``; returns the checked ``Checkpoint``.

    A history that starts after iteration 1 is completed from ``history_from``,
    or, with ``cut_history``, left as it is (to train on from it elsewhere).
    """
    if not paths:
        raise CarryError("no parts given")
    info, entries = _read_parts(paths)
    arrays, cut = {}, {}
    for name, array in entries.items():
        if PIECE in name:
            base, i = name.split(PIECE)
            cut.setdefault(base, {})[int(i)] = array
        else:
            arrays[name] = array
    for base, got in cut.items():
        if sorted(got) != list(range(len(got))):
            raise CarryError(f"entry {base!r}: pieces {sorted(got)} of {len(got)} (a damaged part?)")
        arrays[base] = np.concatenate([got[i] for i in range(len(got))])
    start = info["history_first_iteration"]
    if start > 1 and not (cut_history and history_from is None):
        if history_from is None:
            raise CarryError(f"the parts hold the history from iteration {start} on; give --history-from, "
                             "the checkpoint the earlier rows come from (or --cut-history to keep it cut)")
        before = checkpoint.read(history_from).arrays["history"]
        earlier, later = before[before[:, 0] < start], before[before[:, 0] >= start]
        if not len(earlier) or earlier[-1, 0] != start - 1:
            held = f"{int(before[0, 0])}..{int(before[-1, 0])}" if len(before) else "none"
            raise CarryError(f"--history-from {history_from} holds iterations {held}; the parts need "
                             f"every iteration before {start}")
        n = min(len(later), len(arrays["history"]))
        if not np.array_equal(later[:n], arrays["history"][:n]):
            raise CarryError(f"--history-from {history_from} disagrees with the parts on iterations "
                             f"{start}..{start + n - 1} (another run?)")
        arrays["history"] = np.concatenate([earlier, arrays["history"]])
    checkpoint.atomic_write(out, lambda f: np.savez(f, **arrays))
    return checkpoint.read(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split", help="write a checkpoint as parts")
    s.add_argument("checkpoint")
    s.add_argument("folder")
    s.add_argument("--part-mb", type=float, default=15.0, help="largest part in MiB (default 15)")
    s.add_argument("--keep-history", type=int, help="keep only the last N history rows")
    s.add_argument("--since-iteration", type=int, help="keep the history rows of iteration I and later")
    j = sub.add_parser("join", help="put parts back into one checkpoint")
    j.add_argument("parts", nargs="+")
    j.add_argument("out")
    j.add_argument("--history-from", help="checkpoint holding the history rows the parts lack")
    j.add_argument("--cut-history", action="store_true",
                   help="without --history-from: keep a history that starts late as it is")
    args = p.parse_args(argv)
    try:
        if args.command == "split":
            for path in split(args.checkpoint, args.folder, args.part_mb, args.keep_history,
                              args.since_iteration):
                print(f"{path}  {os.path.getsize(path) / 2 ** 20:.1f} MiB")
        else:
            ck = join(args.parts, args.out, args.history_from, args.cut_history)
            print(f"{args.out}: iteration {ck.iteration}, {len(ck.arrays['history'])} history rows, "
                  f"{os.path.getsize(args.out) / 2 ** 20:.1f} MiB")
    except (CarryError, checkpoint.CheckpointError) as exc:
        print(f"carry_checkpoint.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
