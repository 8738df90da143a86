"""Reproduce the GAN paper's Table 1 (MNIST, Parzen window): train the
``mnist-paper`` preset and score it by the paper's protocol as it trains.

    python benchmarks/table1_parzen.py --data-dir ../shared/data --order simultaneous --epochs 250

Every ``--eval-every`` epochs (and at the last) it draws 10,000 samples from G,
chooses sigma on train[50000:51000] and reports the mean log-likelihood of the
10,000 test images +- its standard error (minigan.metrics.parzen_protocol).
``--eval-samples`` < 10000 makes the intermediate evaluations quicker; the
final one always uses the full protocol (10,000 samples).

Everything lands in ``--out`` (default benchmarks/runs/table1-ORDER-sSEED), on disk
as it happens, so a run killed at any point leaves its results so far:

    log.txt          one line per epoch: wall time, epoch time, D(x), D(G(z)), losses, lr, momentum
    results.jsonl    one JSON line per evaluation: epoch, LL, se, sigma, ...
    results.md       the evaluations so far as a table, the paper's Table 1 rows beside them
    last.npz         full checkpoint (minigan.checkpoint) every --ckpt-every epochs (resume with --resume)
    G_epochNNN.npz   the generator's parameters at each evaluation
    samples_epochNNN.png  Figure 2 style: samples, each with its nearest training image beside it
    interp_epochNNN.png   Figure 3 style: rows of linear interpolation between noise vectors

The real-data ceiling (the same estimator with 10,000 real training images in
place of the samples) is computed once and written beside the results.

Stopping: ``--stop-after MINUTES``, SIGTERM or Ctrl-C (SIGINT) end the run at
the end of the epoch under way, with a checkpoint of that epoch, so that
``--resume`` loses nothing (a second signal stops at once, as usual).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minigan import backend, checkpoint, presets  # noqa: E402
from minigan.optim import ParameterAverage  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.train import TrainingDiverged  # noqa: E402
from minigan.metrics import image_statistics, parzen_protocol  # noqa: E402

PAPER_ROWS = [("DBN", "138 +- 2"), ("Stacked CAE", "121 +- 1.6"), ("Deep GSN", "214 +- 1.1"),
              ("Adversarial nets", "225 +- 2")]


class StopWhen:
    """Asks a training loop to stop at its next epoch's end: after ``minutes``
    (None: no limit) or on SIGTERM / SIGINT, received while in the ``with``
    block. A second signal raises KeyboardInterrupt there and then."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, minutes=None):
        if minutes is not None and not minutes >= 0:
            raise ValueError(f"--stop-after {minutes}: minutes, >= 0")
        self.minutes, self.signal, self._old = minutes, None, {}

    def _handle(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt(f"second signal ({signal.Signals(signum).name})")
        self.signal = signal.Signals(signum).name

    def __enter__(self):
        self.t0 = time.perf_counter()
        self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)
        return False

    def why(self):
        """Why to stop now ("SIGTERM", "--stop-after 9"), or None to go on."""
        if self.signal is not None:
            return self.signal
        if self.minutes is not None and time.perf_counter() - self.t0 >= 60 * self.minutes:
            return f"--stop-after {self.minutes:g}"
        return None


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}, " \
           f"NumPy {np.__version__}, backend {backend.name()}"


def save_grid(path, tiles, ncols, gap_every=None):
    """Write 28x28 tiles (rows of 784) as one grayscale PNG, ``ncols`` per row."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tiles = np.asarray(tiles).reshape(-1, 28, 28)
    nrows = int(math.ceil(len(tiles) / ncols))
    canvas = np.ones((nrows * 30, ncols * 30), np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        canvas[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = t
    plt.imsave(path, canvas, cmap="gray", vmin=0, vmax=1)


def figures(out, epoch, gan, train, tag=""):
    """Figure 2 (samples + nearest training image) and Figure 3 (interpolations in z);
    ``tag`` goes into the file names (``samples{tag}_epochNNN.png``)."""
    rng = backend.default_rng(12345)
    samples = backend.to_host(gan.sample(30, rng=rng)).astype(np.float32)
    # nearest training image by Euclidean distance (|x|^2 + |y|^2 - 2 x.y)
    d2 = (samples ** 2).sum(1)[:, None] + (train ** 2).sum(1)[None, :] - 2 * samples @ train.T
    nearest = train[d2.argmin(1)]
    pairs = np.stack([samples, nearest], 1).reshape(-1, 784)     # sample, its neighbour, ...
    save_grid(out / f"samples{tag}_epoch{epoch:03d}.png", pairs, ncols=12)
    # linear interpolation between pairs of noise vectors, 8 rows x 10 steps
    z = backend.to_host(gan.noise_sampler(16, backend.default_rng(54321)))
    t = np.linspace(0, 1, 10)[None, :, None]
    zs = (z[0::2, None, :] * (1 - t) + z[1::2, None, :] * t).reshape(-1, z.shape[1]).astype(np.float32)
    was = gan.G.training
    gan.G.eval()
    try:
        from minigan.layers import no_grad
        with no_grad():
            imgs = backend.to_host(gan.G.forward(backend.to_device(zs)))
    finally:
        gan.G.train(was)
    save_grid(out / f"interp{tag}_epoch{epoch:03d}.png", imgs, ncols=10)


def write_md(out, header, rows, ceiling):
    lines = [f"# Table 1 reproduction: {header['name']}", "",
             f"- command: `{header['command']}`", f"- machine: {header['machine']}",
             f"- started: {header['started']}", f"- preset: mnist-paper, options {header['options']}", "",
             "| epoch | iterations | G | wall (min) | samples | sigma | LL (nats) | se | grey | TV |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['epoch']} | {r['iteration']} | {r.get('G', 'trained')} | {r['wall_s'] / 60:.1f} | "
                     f"{r['n_samples']} | "
                     f"{r['sigma']:.4f} | {r['ll']:.1f} | {r['se']:.1f} | "
                     + (f"{r['images']['grey']:.3f} | {r['images']['tv']:.1f} |" if "images" in r else " | |"))
    lines += ["", "Paper, Table 1 (MNIST): " + "; ".join(f"{n} {v}" for n, v in PAPER_ROWS)]
    if ceiling:
        lines.append(f"Real-data ceiling (10,000 training images as the 'samples'): "
                     f"{ceiling['ll']:.1f} +- {ceiling['se']:.1f} (sigma {ceiling['sigma']:.4f})"
                     + (f"; grey {ceiling['images']['grey']:.3f}, TV {ceiling['images']['tv']:.1f}"
                        if "images" in ceiling else ""))
    lines.append("grey: fraction of pixels strictly between 0.05 and 0.95; TV: mean total variation per image "
                 "(minigan.metrics.image_statistics): blur raises the one and lowers the other, and the Parzen "
                 "score rewards blur")
    tmp = out / "results.md.part"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out / "results.md")


def save_averages(path, averages, iteration):
    """The averages' states, atomically, for the checkpoint of ``iteration``."""
    arrays = {"iteration": np.array(iteration)}
    for which, avg in averages.items():
        arrays.update({f"{which}/{k}": backend.to_host(v) if hasattr(v, "shape") else np.array(v)
                       for k, v in avg.state_dict().items()})
    checkpoint.atomic_write(path, lambda f: np.savez(f, **arrays))


def load_averages(path, averages, iteration, error):
    """Restore the averages saved with the checkpoint at ``iteration``; ``error(msg)`` on a mismatch."""
    if not path.exists():
        error(f"--average: {path} is missing, so the run cannot resume its averages; "
              "resume without --average, or start a new run")
    with np.load(path) as z:
        if int(z["iteration"]) != iteration:
            error(f"--average: {path} holds iteration {int(z['iteration'])}, last.npz {iteration}")
        for which, avg in averages.items():
            state = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(which + "/")}
            if not state:
                error(f"--average: {path} has no {which!r} (it has "
                      f"{sorted({k.split('/')[0] for k in z.files if '/' in k})})")
            avg.load_state_dict(state)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"),
                   help="folder holding mnist/ (default: $MINIGAN_DATA)")
    p.add_argument("--order", default="simultaneous", choices=("simultaneous", "sequential"))
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--d-lr", type=float, default=None)
    p.add_argument("--g-lr", type=float, default=None)
    p.add_argument("--g-loss", default=None, choices=("nonsaturating", "minimax"))
    p.add_argument("--eval-every", type=int, default=10, help="epochs between Parzen evaluations")
    p.add_argument("--eval-samples", type=int, default=10000,
                   help="generator samples for intermediate evaluations (the last always uses 10,000)")
    p.add_argument("--ckpt-every", type=int, default=5, help="epochs between full checkpoints (last.npz)")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument("--sampling", choices=("epochs", "random"),
                   help="real minibatches: a permutation per epoch (the preset's default, as the released "
                        "run) or i.i.d. with replacement; a resumed run keeps the one it was started with")
    p.add_argument("--noise", choices=presets.MNIST_PAPER_NOISE,
                   help="noise prior: U(-sqrt 3, sqrt 3)^100 (the preset's default) or N(0, I)^100 (the "
                        "released Generator's default, which one version of mnist.yaml left in force); "
                        "a resumed run keeps its own")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.npz")
    p.add_argument("--stop-after", type=float, metavar="MINUTES",
                   help="end with a checkpoint after the first epoch that ends this many minutes after the "
                        "start (SIGTERM and Ctrl-C do the same at the end of the epoch under way)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--average", type=float, action="append", default=[], metavar="DECAY",
                   help="also keep a running average of G's parameters with this decay "
                        "(minigan.optim.ParameterAverage; 0.999 spans ~2 epochs) and score it at every "
                        "evaluation beside the trained G; repeat for several. Training is unchanged")
    args = p.parse_args(argv)
    if args.stop_after is not None and not args.stop_after >= 0:
        p.error(f"--stop-after {args.stop_after}: minutes, >= 0")
    if args.data_dir is None:
        p.error("give --data-dir (a folder with mnist/) or set MINIGAN_DATA")
    for decay in args.average:
        if not 0 <= decay < 1:
            p.error(f"--average {decay}: a decay in [0, 1)")
    if len(set(args.average)) != len(args.average):
        p.error(f"--average {args.average}: each decay once")

    name = f"table1-{args.order}-s{args.seed}"
    if args.k or args.d_lr or args.g_lr or args.g_loss or args.noise == "gaussian":
        name += "".join(f"-{k}{v}" for k, v in (("k", args.k), ("dlr", args.d_lr), ("glr", args.g_lr),
                                                 ("", args.g_loss),
                                                 ("", "gaussian" if args.noise == "gaussian" else None)) if v)
    out = Path(args.out or ROOT / "benchmarks" / "runs" / name)
    if not args.resume and (out / "results.jsonl").exists() and (out / "results.jsonl").stat().st_size:
        p.error(f"{out} already holds a run's results; pass --resume to continue it or --out for a new folder")
    out.mkdir(parents=True, exist_ok=True)
    resume_from = checkpoint.read(out / "last.npz") if args.resume and (out / "last.npz").exists() else None
    # a resumed run keeps the sampling and noise prior it was started with (run_options infers
    # `sampling` for runs from before that option: they drew i.i.d. minibatches)
    saved = presets.run_options(resume_from) if resume_from is not None else {}
    for key, default in (("sampling", "epochs"), ("noise", "uniform")):
        had = saved.get(key, default)
        if getattr(args, key) is None:
            setattr(args, key, had)
        elif resume_from is not None and getattr(args, key) != had:
            p.error(f"--{key} {getattr(args, key)}: the run in {out} was started with {key} {had!r}")
    options = {"data_dir": str(args.data_dir), "order": args.order, "seed": args.seed, "k": args.k,
               "d_lr": args.d_lr, "g_lr": args.g_lr, "g_loss": args.g_loss, "sampling": args.sampling,
               "noise": args.noise}
    options = {k: v for k, v in options.items() if v is not None}
    run = presets.build("mnist-paper", **options)
    # every option the preset used, defaults included; not its default length (this script trains --epochs)
    options = {k: v for k, v in run.options.items() if k != "iterations"}
    gan = run.trainer
    per_epoch = run.extra["steps_per_epoch"]
    averages = {f"average {d:g}": ParameterAverage(gan.G, d) for d in args.average}
    averages_path = out / "averages.npz"     # written beside last.npz, for the same iteration
    header = {"name": name, "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
              "machine": machine(), "started": now(), "options": options}
    log = open(out / "log.txt", "a", buffering=1)
    results_path = out / "results.jsonl"
    rows = []
    wall0 = 0.0
    if resume_from is not None:
        ck = checkpoint.load(resume_from, gan)
        wall0 = float(ck.meta.get("extra", {}).get("wall_s", 0.0))
        if results_path.exists():
            rows = [json.loads(ln) for ln in results_path.read_text().splitlines() if ln.strip()]
            rows = [r for r in rows if r["iteration"] <= gan.iteration]
        print(f"{now()} resumed from {out / 'last.npz'} at iteration {gan.iteration}", file=log)
        for note in ck.notes:       # e.g. generators re-seeded: a NumPy run resumed on CuPy
            print(f"{now()} note: {note}", file=log)
        if averages:
            load_averages(averages_path, averages, gan.iteration, p.error)
    else:
        results_path.write_text("")
    print(f"{now()} {header['command']}\n# machine: {header['machine']}\n# options: {options}", file=log)

    train, _ = load_mnist("train", data_dir=args.data_dir)
    valid, _ = load_mnist("valid", data_dir=args.data_dir)
    test, _ = load_mnist("test", data_dir=args.data_dir)
    valid = valid[:1000]
    ceiling_path = out.parent / "ceiling.json"
    if ceiling_path.exists():
        ceiling = json.loads(ceiling_path.read_text())
    else:
        t = time.perf_counter()
        c = parzen_protocol(train[:10000], valid, test)
        ceiling = {"ll": c.ll, "se": c.se, "sigma": c.sigma, "seconds": time.perf_counter() - t,
                   "images": image_statistics(train[:10000])}
        ceiling_path.write_text(json.dumps(ceiling))
    print(f"# real-data ceiling: {ceiling['ll']:.1f} +- {ceiling['se']:.1f} (sigma {ceiling['sigma']:.4f})",
          file=log)
    write_md(out, header, rows, ceiling)

    def evaluate(epoch, wall, final, which="trained"):
        n = 10000 if final else args.eval_samples
        t = time.perf_counter()
        samples = backend.to_host(gan.sample(n, rng=backend.default_rng(777)))
        res = parzen_protocol(samples, valid, test)
        row = {"epoch": epoch, "iteration": gan.iteration, "G": which, "wall_s": wall, "n_samples": n,
               "sigma": res.sigma, "ll": res.ll, "se": res.se, "final": final,
               "valid_lls": [round(float(v), 3) for v in res.valid_lls],
               "images": {k: round(v, 4) for k, v in image_statistics(samples).items()},
               "eval_s": time.perf_counter() - t, "time": now()}
        rows.append(row)
        with open(results_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        tag = "" if which == "trained" else "_avg" + which.split()[-1]
        np.savez(out / f"G{tag}_epoch{epoch:03d}.npz",
                 **{k: backend.to_host(v) for k, v in gan.G.params.items()})
        write_md(out, header, rows, ceiling)
        if not args.no_figures:
            try:
                figures(out, epoch, gan, train, tag)
            except Exception as exc:  # a figure must never stop the run
                print(f"# figure failed: {exc}", file=log)
        print(f"{now()} EVAL epoch {epoch}{'' if which == 'trained' else ' (' + which + ')'}: "
              f"LL {res.ll:.1f} +- {res.se:.1f} sigma {res.sigma:.4f} ({n} samples, {row['eval_s']:.1f} s)",
              file=log)

    def update_averages(gan, row):
        for avg in averages.values():
            avg.update()

    start_epoch = gan.iteration // per_epoch
    t_start = time.perf_counter() - wall0
    with StopWhen(args.stop_after) as stop:
        for epoch in range(start_epoch + 1, args.epochs + 1):
            t0 = time.perf_counter()
            try:
                hist = gan.train(per_epoch, callback=update_averages if averages else None)
            except TrainingDiverged as exc:
                print(f"{now()} DIVERGED in epoch {epoch}: {exc}", file=log)
                break
            dt = time.perf_counter() - t0
            mean = {k: float(np.mean([h[k] for h in hist])) for k in ("D_real", "D_fake", "d_loss", "g_loss")}
            print(f"{now()} epoch {epoch:3d} it {gan.iteration:6d} {dt:6.1f} s/epoch  D(x) {mean['D_real']:.3f} "
                  f"D(G(z)) {mean['D_fake']:.3f}  d_loss {mean['d_loss']:.4f} g_loss {mean['g_loss']:.4f}  "
                  f"lr {gan.d_opt.lr:.5f} mu {gan.d_opt.momentum:.3f}", file=log)
            wall = time.perf_counter() - t_start
            final = epoch == args.epochs
            why = stop.why()
            if epoch % args.ckpt_every == 0 or final or why:
                checkpoint.save(out / "last.npz", gan, preset="mnist-paper", options=options,
                                extra={"wall_s": wall, "epoch": epoch})
                if averages:
                    save_averages(averages_path, averages, gan.iteration)
            if epoch % args.eval_every == 0 or final:
                evaluate(epoch, wall, final)
                for which, avg in averages.items():
                    with avg.applied():
                        evaluate(epoch, wall, final, which)
            if why:
                print(f"{now()} stopped after epoch {epoch} ({why}); --resume continues from it", file=log)
                break
    print(f"{now()} done", file=log)
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
