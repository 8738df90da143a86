"""Where is a Table 1 run heading? Fit the late part of its Parzen curve and extrapolate.

    python benchmarks/table1_trend.py benchmarks/runs/table1-simultaneous-s0/results.jsonl --from-epoch 250

Reads the evaluations ``table1_parzen.py`` wrote (one JSON line each: epoch,
ll, se, ...) and fits, by least squares on the epochs >= ``--from-epoch``:

* ``linear``:   LL(e) = a + b e                       (the rate of the stretch goes on forever)
* ``log``:      LL(e) = a + b ln e                    (each doubling of training adds b ln 2)
* ``lr-limited``: LL(e) = L_inf - c lr(e) / lr(0)      (progress per epoch proportional to the
  learning rate, so the gain still to come is proportional to the rate's remaining integral)

The mnist-paper preset divides the rate by 1.000004 every minibatch, 500 a
epoch: lr(e) = 0.1 exp(-e / tau) with tau = 1 / (500 ln 1.000004) = 500.0
epochs (until the 1e-6 floor, ~5,760 epochs), so the third model has the same
two free parameters as the others and no tuned constant. For each it prints
the residual sum of squares (the evaluations scatter by a few nats from
checkpoint to checkpoint, so compare the fits, not the residuals' size), the
epoch at which it reaches ``--target`` (the paper's 225) or its asymptote when
it never does, and its value at ``--at`` epochs. These are extrapolations of a
noisy curve, not measurements: they say which way a run is going.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

STEPS_PER_EPOCH = 500
DECAY = 1.000004
TAU = 1.0 / (STEPS_PER_EPOCH * math.log(DECAY))      # epochs for the rate to fall by e


def load(path, which="trained"):
    """(epochs, LLs) of the evaluations of generator ``which``: "trained", or "average DECAY" for a
    running average that ``table1_parzen.py --average DECAY`` scored beside it (rows from before
    that option have no "G" and are the trained G's)."""
    rows = [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
    rows = [r for r in rows if r.get("G", "trained") == which]
    if not rows:
        raise SystemExit(f"{path}: no evaluations of the {which} G")
    return np.array([r["epoch"] for r in rows], float), np.array([r["ll"] for r in rows], float)


def fit(epochs, ll, target, at):
    """``{name: (params, rss, epoch reaching target or None, asymptote or None, {e: prediction})}``."""
    models = {
        "linear": lambda e: np.c_[np.ones_like(e), e],
        "log": lambda e: np.c_[np.ones_like(e), np.log(e)],
        "lr-limited": lambda e: np.c_[np.ones_like(e), -np.exp(-e / TAU)],
    }
    out = {}
    for name, design in models.items():
        coef, *_ = np.linalg.lstsq(design(epochs), ll, rcond=None)
        rss = float(((ll - design(epochs) @ coef) ** 2).sum())
        a, b = coef
        asymptote = None
        if name == "linear":
            reach = (target - a) / b if b > 0 else None
        elif name == "log":
            reach = math.exp((target - a) / b) if b > 0 else None
        else:
            asymptote = a if b > 0 else None
            reach = -TAU * math.log((a - target) / b) if b > 0 and a > target else None
        preds = {e: float((design(np.array([float(e)])) @ coef)[0]) for e in at}
        out[name] = (coef, rss, reach, asymptote, preds)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="results.jsonl files written by table1_parzen.py")
    p.add_argument("--from-epoch", type=int, default=250,
                   help="fit the evaluations from this epoch on (default 250, the end of the momentum ramp)")
    p.add_argument("--target", type=float, default=225.0, help="the LL to reach (default: the paper's 225)")
    p.add_argument("--which", default="trained", metavar="G",
                   help='whose evaluations: "trained" (default) or "average DECAY" (table1_parzen.py --average)')
    p.add_argument("--at", type=int, nargs="*", default=[1000, 1500, 2000],
                   help="epochs at which to print each fit's value")
    args = p.parse_args(argv)
    print(f"lr(e) = 0.1 exp(-e / {TAU:.1f}); fits from epoch {args.from_epoch}; target {args.target:g}")
    for path in args.results:
        epochs, ll = load(path, args.which)
        keep = epochs >= args.from_epoch
        if keep.sum() < 3:
            print(f"{path}: fewer than 3 evaluations from epoch {args.from_epoch}; nothing to fit")
            continue
        e, y = epochs[keep], ll[keep]
        print(f"\n{path}: {keep.sum()} evaluations, epochs {e[0]:.0f}-{e[-1]:.0f}, "
              f"LL {y[0]:.1f} -> {y[-1]:.1f} (last three {', '.join(f'{v:.1f}' for v in y[-3:])})")
        for name, (coef, rss, reach, asymptote, preds) in fit(e, y, args.target, args.at).items():
            when = (f"reaches {args.target:g} at epoch {reach:.0f}" if reach is not None else
                    f"never reaches {args.target:g}" + (f" (asymptote {asymptote:.1f})"
                                                         if asymptote is not None else ""))
            at = ", ".join(f"{k}: {v:.1f}" for k, v in preds.items())
            print(f"  {name:10s} a={coef[0]:9.3f} b={coef[1]:9.4f}  rss {rss:7.1f}  {when};  {at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
