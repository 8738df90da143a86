"""Short diagnostic runs of the ``mnist-paper`` preset: does Algorithm 1's
sequential order let D saturate at once, and what lets it train?

    OPENBLAS_NUM_THREADS=1 python benchmarks/sequential_order.py --data-dir ../shared/data \\
        --order sequential --seed 0 --epochs 6 --parzen-at 5

Per epoch (500 iterations of 100) it records, on disk as it goes, in
``--out`` (default benchmarks/runs/seqorder-ORDER-sSEED[-options]):

    epochs.jsonl   one JSON line per epoch:
                   train-mode means over the epoch (D(x), D(G(z)) through dropout, d_loss, g_loss,
                   gradient norms) and the same means over each block of 100 iterations;
                   eval-mode D(x) on 1,000 validation images and D(G(z)) on 1,000 samples (no dropout);
                   G's output logits (the input of its final sigmoid) on a fixed batch of 1,000 z:
                   the fraction beyond |10|, the mean |logit|; the norms of G's output weights and
                   of D's last layer; and, at the ``--parzen-at`` epochs, the Parzen LL +- se by the
                   paper's protocol (minigan.metrics.parzen_protocol) with ``--parzen-samples`` samples
    history.npz    every iteration's history row (minigan.train.HISTORY_FIELDS)
    log.txt        the same as readable lines
    G_last.npz, samples_last.png   G's parameters and 100 samples at the end

``--variant stale-d`` (sequential only) takes G's step through D's parameters
from before this iteration's D step: it isolates "G sees the D that was just
updated" from the other differences between the orders (fresh noise and a
fresh dropout mask for the G step stay as in Algorithm 1).

    python benchmarks/sequential_order.py --summarize benchmarks/runs/seqorder-*

prints one markdown row per run folder (the per-epoch trace and the Parzen figures).

``--d-loss-scale`` overrides the preset's 0.5. For SGD with momentum, scaling
D's loss by s is the same update as scaling D's learning rate by s (v <- mu v - lr s g),
so it is not a separate knob from ``--d-lr``; it is here to show exactly that.
``--stop-saturated N`` ends a run after N consecutive epochs with D(G(z)) < 0.001
and more than half of G's output logits beyond |10| (the failure cannot recover:
G's gradient goes through sigmoid'(a) < 5e-5 there).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minigan import backend, presets  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.train import HISTORY_FIELDS, TrainingDiverged  # noqa: E402
from minigan.layers import no_grad  # noqa: E402
from minigan.metrics import parzen_protocol  # noqa: E402


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine():
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores (shared with other jobs), Python {platform.python_version()}, "
            f"NumPy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")


def g_output_logits(G, z):
    """The input of G's final sigmoid for noise z (eval mode, no cache)."""
    was = G.training
    G.eval()
    try:
        with no_grad():
            h = z
            for layer in G.layers[:-1]:
                h = layer.forward(h)
        return backend.to_host(h)
    finally:
        G.train(was)


def norm(a):
    a = backend.to_host(a).astype(np.float64)
    return float(np.sqrt((a * a).sum()))


def save_samples(path, images):
    """100 samples as a 10 x 10 grayscale grid."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tiles = np.asarray(images, np.float32).reshape(-1, 28, 28)[:100]
    canvas = np.ones((300, 300), np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, 10)
        canvas[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = t
    plt.imsave(path, canvas, cmap="gray", vmin=0, vmax=1)


def use_stale_d(gan):
    """Make ``gan``'s G step see D as it was before this iteration's D step(s).

    Everything else stays Algorithm 1: the D step and the G step draw their own
    noise, and D's dropout draws a fresh mask for the G step. Only the
    parameters G is differentiated through are the old ones; D's update is kept.
    """
    d_step = gan.d_step
    g_step = gan.g_step

    def staged_d_step():
        if not hasattr(gan, "_before"):
            gan._before = {k: v.copy() for k, v in gan.D.params.items()}
        return d_step()

    def stale_g_step():
        after = {k: v.copy() for k, v in gan.D.params.items()}
        for k, v in gan.D.params.items():
            v[...] = gan._before[k]
        try:
            return g_step()
        finally:
            for k, v in gan.D.params.items():
                v[...] = after[k]
            del gan._before

    gan.d_step, gan.g_step = staged_d_step, stale_g_step


def summarize(folders):
    """One markdown row per run folder: the per-epoch trace, compactly."""
    print("| run | epoch: D(x) / D(G(z)) / d_loss (means over the epoch, train mode) / fraction of G's "
          "output logits beyond 10 (1,000 fixed z, end of epoch) | Parzen LL +- se (epoch) |")
    print("|---|---|---|")
    for folder in folders:
        path = Path(folder) / "epochs.jsonl"
        if not path.exists():
            continue
        rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        trace = "; ".join(f"{r['epoch']}: {r['D_real']:.3f} / {r['D_fake']:.4f} / {r['d_loss']:.4f} / "
                          f"{r['g_logit_frac_abs_gt10']:.2f}" for r in rows)
        parzen = ", ".join(f"{r['parzen_ll']:.1f} +- {r['parzen_se']:.1f} ({r['epoch']})"
                           for r in rows if "parzen_ll" in r)
        print(f"| {Path(folder).name} | {trace} | {parzen} |")


def use_lead_probe(gan, records, seed=31337):
    """Record, at every iteration, G's gradient through D AFTER this iteration's
    D step (what Algorithm 1's G step uses) and through D BEFORE it, on the same
    probe batch z and the same dropout masks (drawn from a separate generator, so
    the training run itself is unchanged). Appends (|g_after|, |g_before|,
    cos(g_after, g_before), D_after(G(z)), D_before(G(z))) to ``records``."""
    from minigan.layers import backward_input_only, backward_params_only
    probe_rng = np.random.default_rng(seed)
    drops = [layer for layer in gan.D.layers if hasattr(layer, "fixed_mask")]
    d_step, g_step = gan.d_step, gan.g_step

    def g_grad(z):
        gan.G.zero_grad()
        a = gan.D.forward(gan.G.forward(z))
        _, grad_a = gan._g_loss(a)
        backward_params_only(gan.G, backward_input_only(gan.D, grad_a))
        flat = np.concatenate([backend.to_host(g).ravel().astype(np.float64) for g in gan.G.grads.values()])
        gan.G.zero_grad()
        return flat, float(backend.to_host(1 / (1 + np.exp(-backend.to_host(a)))).mean())

    def probed_d_step():
        if not hasattr(gan, "_probe_before"):
            gan._probe_before = {k: v.copy() for k, v in gan.D.params.items()}
        return d_step()

    def probed_g_step():
        z = backend.to_device(gan.noise_sampler(gan.m, probe_rng))
        widths = [784, 240, 240]
        for layer, w in zip(drops, widths):
            layer.fixed_mask = backend.to_device(probe_rng.random((gan.m, w)) < layer.keep)
        after = {k: v.copy() for k, v in gan.D.params.items()}
        try:
            g_after, d_after = g_grad(z)
            for k, v in gan.D.params.items():
                v[...] = gan._probe_before[k]
            g_before, d_before = g_grad(z)
        finally:
            for k, v in gan.D.params.items():
                v[...] = after[k]
            for layer in drops:
                layer.fixed_mask = None
            del gan._probe_before
        na, nb = np.linalg.norm(g_after), np.linalg.norm(g_before)
        records.append((na, nb, float(g_after @ g_before / (na * nb + 1e-30)), d_after, d_before))
        return g_step()

    gan.d_step, gan.g_step = probed_d_step, probed_g_step


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--summarize"]:
        summarize(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"))
    p.add_argument("--order", default="sequential", choices=("simultaneous", "sequential"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--d-lr", type=float, default=None)
    p.add_argument("--g-lr", type=float, default=None)
    p.add_argument("--d-loss-scale", type=float, default=None)
    p.add_argument("--real-label", type=float, default=None,
                   help="D's target for real data (one-sided label smoothing when < 1; preset 1.0)")
    p.add_argument("--momentum", type=float, default=None,
                   help="initial momentum of both SGDs (preset 0.5; it still ramps to 0.7 by epoch 250)")
    p.add_argument("--variant", default="plain", choices=("plain", "stale-d"),
                   help="stale-d (sequential only): G's step is taken through D's parameters from "
                        "BEFORE this iteration's D step (fresh noise and dropout masks as usual)")
    p.add_argument("--probe-lead", action="store_true",
                   help="sequential only: also record G's gradient through D before and after each D step "
                        "(same probe z and dropout masks; the run itself is unchanged) in probe.npz")
    p.add_argument("--parzen-at", default="", help="comma-separated epochs for a Parzen evaluation")
    p.add_argument("--parzen-samples", type=int, default=10000)
    p.add_argument("--stop-saturated", type=int, default=0,
                   help="stop after this many consecutive saturated epochs (0: never)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.data_dir is None:
        p.error("give --data-dir (a folder with mnist/) or set MINIGAN_DATA")
    parzen_at = {int(e) for e in args.parzen_at.split(",") if e.strip()}

    name = f"seqorder-{args.order}-s{args.seed}" + "".join(
        f"-{k}{v}" for k, v in (("k", args.k), ("dlr", args.d_lr), ("glr", args.g_lr),
                                ("dscale", args.d_loss_scale), ("mom", args.momentum),
                                ("real", args.real_label)) if v is not None)
    if args.variant != "plain":
        name += f"-{args.variant}"
    if args.probe_lead:
        name += "-probe"
    if args.variant == "stale-d" and args.order != "sequential":
        p.error("--variant stale-d needs --order sequential")
    out = Path(args.out or ROOT / "benchmarks" / "runs" / name)
    out.mkdir(parents=True, exist_ok=True)
    options = {"data_dir": str(args.data_dir), "order": args.order, "seed": args.seed, "k": args.k,
               "d_lr": args.d_lr, "g_lr": args.g_lr, "momentum": args.momentum}
    options = {k: v for k, v in options.items() if v is not None}
    run = presets.build("mnist-paper", **options)
    gan = run.trainer
    if args.d_loss_scale is not None:
        gan.d_loss_scale = float(args.d_loss_scale)
    if args.real_label is not None:
        gan.real_label = float(args.real_label)
    if args.variant == "stale-d":
        use_stale_d(gan)
    probe = []
    if args.probe_lead:
        if args.order != "sequential" or args.variant != "plain":
            p.error("--probe-lead needs --order sequential and --variant plain")
        use_lead_probe(gan, probe)
    per_epoch = run.extra["steps_per_epoch"]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    log = open(out / "log.txt", "w", buffering=1)
    print(f"{now()} {command}\n# machine: {machine()}\n# options: {options} d_loss_scale {gan.d_loss_scale}"
          f" config {gan.config}", file=log)
    (out / "epochs.jsonl").write_text("")
    (out / "probe.txt").unlink(missing_ok=True)

    valid, _ = load_mnist("valid", data_dir=args.data_dir)
    valid = valid[:1000]
    test = None
    if parzen_at:
        test, _ = load_mnist("test", data_dir=args.data_dir)
    z_fixed = gan.noise_sampler(1000, backend.default_rng(4242))
    valid_dev = backend.to_device(valid)

    saturated_run = 0
    t_start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        try:
            hist = gan.train(per_epoch)
        except TrainingDiverged as exc:
            print(f"{now()} DIVERGED in epoch {epoch}: {exc}", file=log)
            break
        dt = time.perf_counter() - t0
        keys = ("D_real", "D_fake", "d_loss", "g_loss", "d_grad_norm", "g_grad_norm")
        mean = {k: float(np.mean([h[k] for h in hist])) for k in keys}
        blocks = [{k: round(float(np.mean([h[k] for h in hist[i:i + 100]])), 6) for k in keys}
                  for i in range(0, len(hist), 100)]
        logits = g_output_logits(gan.G, z_fixed)
        sat = float((np.abs(logits) > 10).mean())
        d_x_eval = float(backend.to_host(gan.d_prob(valid_dev)).mean())
        d_gz_eval = float(backend.to_host(gan.d_prob(gan.sample(1000, rng=backend.default_rng(99)))).mean())
        row = {"epoch": epoch, "iteration": gan.iteration, "epoch_s": round(dt, 1), **mean,
               "blocks100": blocks, "D_x_eval": d_x_eval, "D_Gz_eval": d_gz_eval,
               "g_logit_frac_abs_gt10": sat, "g_logit_mean_abs": float(np.abs(logits).mean()),
               "G_out_W_norm": norm(gan.G.layers[4].params["W"]),
               "D_last_W_norm": norm(gan.D.layers[-1].params["W"]),
               "d_lr": gan.d_opt.lr, "g_lr": gan.g_opt.lr, "momentum": gan.d_opt.momentum,
               "time": now()}
        line = (f"{now()} epoch {epoch:3d} {dt:5.1f} s  D(x) {mean['D_real']:.4f} D(G(z)) {mean['D_fake']:.4f} "
                f"d_loss {mean['d_loss']:.5f} g_loss {mean['g_loss']:.3f} |g| {mean['g_grad_norm']:.3g}  "
                f"eval D(x) {d_x_eval:.4f} D(G(z)) {d_gz_eval:.4f}  G logits>|10| {sat:.3f} "
                f"mean|a| {row['g_logit_mean_abs']:.2f}")
        if epoch in parzen_at:
            t = time.perf_counter()
            samples = backend.to_host(gan.sample(args.parzen_samples, rng=backend.default_rng(777)))
            res = parzen_protocol(samples, valid, test)
            row.update(parzen_ll=res.ll, parzen_se=res.se, parzen_sigma=res.sigma,
                       parzen_samples=args.parzen_samples, parzen_s=round(time.perf_counter() - t, 1))
            line += (f"  Parzen LL {res.ll:.1f} +- {res.se:.1f} (sigma {res.sigma:.4f}, "
                     f"{args.parzen_samples} samples)")
        if probe:
            pr = np.array(probe)
            np.savez(out / "probe.npz", g_after=pr[:, 0], g_before=pr[:, 1], cos=pr[:, 2],
                     D_after=pr[:, 3], D_before=pr[:, 4])
            ep = pr[-per_epoch:]
            row["probe_blocks100"] = [
                {"g_after": float(b[:, 0].mean()), "g_before": float(b[:, 1].mean()),
                 "cos": float(b[:, 2].mean()), "D_after": float(b[:, 3].mean()), "D_before": float(b[:, 4].mean())}
                for b in (ep[i:i + 100] for i in range(0, len(ep), 100))]
            with open(out / "probe.txt", "a") as f:
                f.write(f"epoch {epoch}: " + " | ".join(
                    f"|g| after {b['g_after']:.3f} before {b['g_before']:.3f} cos {b['cos']:.2f} "
                    f"D(G(z)) after {b['D_after']:.4f} before {b['D_before']:.4f}"
                    for b in row["probe_blocks100"]) + "\n")
        with open(out / "epochs.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(line, file=log)
        np.savez(out / "history.npz", **{k: gan.history.column(k) for k in HISTORY_FIELDS})
        if mean["D_fake"] < 1e-3 and sat > 0.5:
            saturated_run += 1
        else:
            saturated_run = 0
        if args.stop_saturated and saturated_run >= args.stop_saturated:
            print(f"{now()} stopped: saturated for {saturated_run} consecutive epochs", file=log)
            break
    np.savez(out / "G_last.npz", **{k: backend.to_host(v) for k, v in gan.G.params.items()})
    save_samples(out / "samples_last.png", backend.to_host(gan.sample(100, rng=backend.default_rng(12345))))
    print(f"{now()} done, {time.perf_counter() - t_start:.0f} s", file=log)
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
