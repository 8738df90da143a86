"""How much subnormal floats in a trained model's momentum buffers cost the SGD step.

Loads a checkpoint written by ``minigan train`` or ``benchmarks/table1_parzen.py``,
counts the velocities that are subnormal (nonzero and below 1.2e-38 in float32),
then times one SGD step of each player twice, interleaved: with the checkpoint's
velocities as they are, and with the subnormal ones set to zero (what
``optim.SGD`` does every ``FLUSH_EVERY`` steps). Parameters and velocities are
restored before every timed step, and the step timed is not a flush step.

    OPENBLAS_NUM_THREADS=1 python benchmarks/subnormal_velocities.py \
        benchmarks/runs/table1-simultaneous-s0/last.npz --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from minigan import presets  # noqa: E402

TINY = np.finfo(np.float32).tiny


def subnormal(a):
    return (a != 0) & (np.abs(a) < TINY)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"))
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    run, _ = presets.restore_run(args.checkpoint, data_dir=args.data_dir)
    gan = run.trainer
    gan.step()                                  # real gradients in the grads arrays (one more iteration)
    print(f"# {args.checkpoint}: iteration {gan.iteration}; load {os.getloadavg()[0]:.2f}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}")
    for who, net, opt in (("D", gan.D, gan.d_opt), ("G", gan.G, gan.g_opt)):
        v0 = {k: v.copy() for k, v in opt.state["velocity"].items()}
        p0 = {k: q.copy() for k, q in net.params.items()}
        n_sub = sum(int(subnormal(v).sum()) for v in v0.values())
        n_all = sum(v.size for v in v0.values())

        def timed(flushed):
            for k in v0:
                opt.state["velocity"][k][...] = np.where(subnormal(v0[k]), 0, v0[k]) if flushed else v0[k]
                net.params[k][...] = p0[k]
            opt.t = 1                           # not a flush step: the rule itself is timed
            t = time.perf_counter()
            opt.step()
            return (time.perf_counter() - t) * 1e3

        as_is, flushed = [], []
        for _ in range(args.repeats):
            as_is.append(timed(False))
            flushed.append(timed(True))
        for k in v0:                            # leave the run as it was
            opt.state["velocity"][k][...] = v0[k]
            net.params[k][...] = p0[k]
        print(f"{who}: {n_sub} of {n_all} velocities subnormal ({100 * n_sub / n_all:.1f}%); SGD step "
              f"median {statistics.median(as_is):.2f} ms as saved, {statistics.median(flushed):.2f} ms "
              f"with those set to 0 (ratio {statistics.median(as_is) / statistics.median(flushed):.2f})")


if __name__ == "__main__":
    main()
