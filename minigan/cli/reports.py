"""What a finished run reports: its figures (Figure 1 for 1-D data, samples over
2-D data, an image grid for 784-D data, the history curves) and its final
numbers (JSD for 1-D data, mode coverage for the toy mixtures, mean D(x) and
D(G(z)) on fresh samples), drawn from evaluation streams that never touch
the training stream.
"""
from __future__ import annotations

import io
import math
import os
import sys
import time

import numpy as np

from .. import backend, checkpoint
from ..train import HISTORY_FIELDS
from .common import EXIT_INTERRUPTED
from .describe import run_description
from .files import CHECKPOINT_NAME

__all__ = ["Reporter", "reporter_for", "report", "data_kind", "eval_rng", "histogram_1d", "viz", "N_EVAL"]

N_EVAL = 2500            # samples for mode coverage and final D(x), D(G(z)) (PacGAN protocol)


def viz():
    """``minigan.viz``, with matplotlib drawing into files only (never needs a display)."""
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from .. import viz as module
    return module


def data_kind(run):
    """'1d', '2d', 'image' or 'other', from the data's dimension."""
    dim = getattr(run.data, "dim", None)
    if dim is None:                    # ask G, not the data sampler (which may keep state)
        x = run.trainer.sample(1, rng=backend.default_rng(0))
        dim = int(np.prod(x.shape[1:]))
    kind = {1: "1d", 2: "2d", 784: "image"}.get(int(dim), "other")
    if kind == "1d" and not hasattr(run.data, "pdf"):
        return "other"                 # Figure 1 and the JSD need p_data's exact density
    return kind


def eval_rng(gan, salt):
    """A generator for evaluation draws that never touches the training stream."""
    entropy = [0 if gan.seed is None else int(gan.seed), int(gan.iteration), int(salt)]
    return backend.default_rng(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


# ---------------------------------------------------------------------- figures and numbers
def _figure1_iterations(start, iterations):
    """Figure 1's four panels: the start, ~5%, ~30% and the end of this run."""
    its = [start, start + max(1, round(0.05 * iterations)), start + round(0.3 * iterations),
           start + iterations]
    return sorted({min(i, start + iterations) for i in its})


def figure1_title(preset, iterations):
    """The main job's Figure 1 title: what its panels are (the run at these iterations), and
    where the paper's panels are drawn."""
    return (f"{preset}: the run at iterations {iterations} (snapshots in time, not the paper's "
            "panels (a)-(d), which lesson 05 draws)")


def figure1_note(last):
    """The line under the main job's Figure 1: what D far from the data means (lesson 04)."""
    return (f"D(x) far from the data, as at iteration {last} where it rises away from p_data: "
            "where p_data + p_g has little mass, D sees few samples and nothing pins it down (lesson 04).")


def _gif_iterations(start, iterations, frames=24):
    return sorted({start + round(iterations * f / frames) for f in range(frames + 1)})


class Reporter:
    """Figures and final numbers for one kind of data."""

    def __init__(self, run, out, start, iterations, figures=True):
        self.run, self.out, self.kind, self.figures = run, out, data_kind(run), figures
        # a resumed run's Figure 1 starts where it resumed: its own files, the first run's stay
        self.figure1 = "figure1" if start == 0 else f"figure1_from_it{start}"
        self.written = []              # (file, what)
        self.panels, self.frames = {}, []
        self.grid = None               # the x grid of every Figure 1 panel and frame
        if self.kind == "1d" and figures:
            self.panel_its = _figure1_iterations(start, iterations)
            frames = min(24, max(4, iterations // 10))      # short runs need fewer frames
            self.snapshot_at = sorted(set(self.panel_its)
                                      | set(_gif_iterations(start, iterations, frames)))
        else:
            self.panel_its, self.snapshot_at = [], []

    def on_snapshot(self, gan):
        panel = gan.iteration in self.panel_its       # the still panels get a finer p_g estimate
        # one x grid for the whole run (fixed by the first snapshot, which covers the
        # data and G's starting point), so that every panel and frame shares its axis
        snap = viz().figure1_snapshot(gan, self.run.data, self.run.noise, grid=self.grid,
                                       n_samples=20000 if panel else 4000)
        if self.grid is None:
            self.grid = snap["x"]
        self.frames.append(snap)
        if panel:
            self.panels[gan.iteration] = snap

    def _note(self, name, what):
        self.written.append((os.path.join(self.out, name), what))

    def finish(self, preset):
        """Draw the figures; return lines of final numbers."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._finish(preset)

    def _finish(self, preset):
        gan, out = self.run.trainer, self.out
        lines = []
        if not self.figures:
            if self.kind == "1d":
                lines.append(self._jsd_line())
            elif self.kind == "2d" and hasattr(self.run.data, "mode_coverage"):
                lines.append(self._coverage_line(
                    backend.to_host(gan.sample(N_EVAL, rng=eval_rng(gan, 1)))))
            lines.append(self._d_line())
            return lines
        draw = viz()
        draw.plot_history(gan.history, os.path.join(out, "history.png"))
        self._note("history.png", "V, D(x), D(G(z)), losses and gradient norms per iteration")
        if self.kind == "1d":
            panels = [self.panels[i] for i in self.panel_its if i in self.panels]
            if panels:
                its = ", ".join(str(i) for i in sorted(self.panels))
                draw.plot_figure1(panels, os.path.join(out, self.figure1 + ".png"), labels=None,
                                  title=figure1_title(preset, its), note=figure1_note(panels[-1]["iteration"]))
                self._note(self.figure1 + ".png", f"Figure 1's view of the run at iterations {its}: p_data, p_g, "
                           "D(x), z -> x (snapshots in time; the paper's panels (a)-(d): lesson 05)")
            if len(self.frames) > 1:
                draw.animate_figure1(self.frames, os.path.join(out, self.figure1 + ".gif"))
                self._note(self.figure1 + ".gif", f"the same view, animated ({len(self.frames)} frames)")
            lines.append(self._jsd_line())
        elif self.kind == "2d":
            samples = backend.to_host(gan.sample(N_EVAL, rng=eval_rng(gan, 1)))
            draw.plot_samples_2d(samples, self.run.data, os.path.join(out, "samples.png"))
            self._note("samples.png", f"{N_EVAL} samples of G over the data")
            if hasattr(self.run.data, "mode_coverage"):
                lines.append(self._coverage_line(samples))
        elif self.kind == "image":
            images = backend.to_host(gan.sample(100, rng=eval_rng(gan, 1)))
            draw.image_grid(images, os.path.join(out, "samples.png"), nrow=10)
            self._note("samples.png", "100 samples of G as a 10 x 10 image grid")
            if gan.g_average is not None:       # the same z, through the averaged G
                images = backend.to_host(gan.sample(100, rng=eval_rng(gan, 1), averaged=True))
                draw.image_grid(images, os.path.join(out, "samples_averaged.png"), nrow=10)
                self._note("samples_averaged.png", "the same z through G with its averaged parameters "
                           f"(--g-average {gan.g_average.decay:g})")
        lines.append(self._d_line())
        return lines

    def _coverage_line(self, samples):
        cov = self.run.data.mode_coverage(samples)
        return (f"modes covered: {cov['modes']} of {cov['of']} ({100 * cov['high_quality']:.1f}% of "
                f"{len(samples)} samples high quality, i.e. within 3 sigma of a mode)")

    def _jsd_line(self):
        from .. import theory
        gan, data = self.run.trainer, self.run.data
        samples = backend.to_host(gan.sample(20000, rng=eval_rng(gan, 3))).reshape(-1)
        if not np.all(np.isfinite(samples)):
            return "JSD(p_data || p_g): not computed, G produced non-finite samples"
        means = np.asarray(getattr(data, "means", [[float(np.median(samples))]]), dtype=np.float64)
        sd = float(getattr(data, "sigma", 1.0))
        lo = min(float(means.min()) - 10 * sd, float(samples.min()) - 1.0)
        hi = max(float(means.max()) + 10 * sd, float(samples.max()) + 1.0)
        grid = np.linspace(lo, hi, 1501)
        jsd = theory.gan_jsd(gan, data, grid, n_samples=20000, seed=int(gan.iteration) + 3)
        line = (f"JSD(p_data || p_g) = {jsd:.4f} nats (log 2 = {math.log(2):.4f} is the maximum; "
                f"p_g from 20,000 samples, KDE); G's samples: mean {samples.mean():.3f}, "
                f"std {samples.std():.3f}")
        if hasattr(data, "means") and len(data.means) == 1:
            line += f" (p_data: mean {float(data.means[0, 0]):g}, std {sd:g})"
        return line

    def _d_line(self):
        gan = self.run.trainer
        rng = eval_rng(gan, 2)
        n = N_EVAL
        if hasattr(self.run.data, "__len__"):       # a finite training set: at most all of it
            n = min(n, len(self.run.data))
        x = self.run.data(n, rng)
        fake = gan.sample(n, rng=rng)
        dx, dgz = float(gan.d_prob(x).mean()), float(gan.d_prob(fake).mean())
        return (f"mean D(x) = {dx:.4f}, mean D(G(z)) = {dgz:.4f} on {n} fresh samples "
                "(eval mode; 1/2 and 1/2 at the game's equilibrium)")


def reporter_for(run, out, start, iterations, figures=True):
    """The reporter of ``run``'s kind: ``Reporter`` for a GAN, ``AutoencoderReporter`` for an
    autoencoder (``minigan.cli.autoencoder_reports``)."""
    if hasattr(run.trainer, "d_prob"):
        return Reporter(run, out, start, iterations, figures=figures)
    from .autoencoder_reports import AutoencoderReporter
    return AutoencoderReporter(run, out, start, iterations, figures=figures)


SUMMARY_KEYS = ("order", "g_loss", "k", "g_steps", "model", "reconstruction", "corruption",
                "corruption_level", "code_dim", "m", "seed", "backend")     # what the first line of a report shows of the config


def report(prog, preset, run, out, reporter, seconds, done, status, started):
    gan = run.trainer
    cfg = gan.config
    rate = done / seconds if seconds > 0 else float("inf")
    settings = " ".join(f"{k}={cfg[k]:g}" if isinstance(cfg[k], float) else f"{k}={cfg[k]}"
                        for k in SUMMARY_KEYS if cfg.get(k) is not None)
    print(f"{prog} {preset}: {done} iterations in {seconds:.1f} s of training ({rate:.0f} it/s), now at "
          f"iteration {gan.iteration}; {settings}")
    print(f"  {preset}: {run_description(preset, run.description, gan.iteration)}")
    lines = reporter.finish(preset)
    for line in lines:
        print("  " + line)
    reporter.written += [(os.path.join(out, "history.csv"), "one row per iteration: "
                          + ", ".join(getattr(gan.history, "fields", HISTORY_FIELDS))),
                         (os.path.join(out, "config.json"), "the run's settings"),
                         (os.path.join(out, CHECKPOINT_NAME),
                          f"everything at iteration {gan.iteration} (minigan resume / minigan sample)")]
    print(f"wrote into {out}{os.sep}:")
    for path, what in reporter.written:
        print(f"  {os.path.basename(path):<16} {what}")
    if status == EXIT_INTERRUPTED:
        print(f"  (interrupted; continue with: minigan resume {os.path.join(out, CHECKPOINT_NAME)})")
    print(f"done in {time.perf_counter() - started:.1f} s (training, figures and files)")


def histogram_1d(samples, data, path):
    """A histogram of 1-D samples, with p_data's density over it where the data has one."""
    viz()
    import matplotlib.pyplot as plt
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(x, bins=100, density=True, color="tab:green", alpha=0.6, label="samples of G")
    if hasattr(data, "pdf"):
        lo, hi = min(x.min(), float(np.min(data.means)) - 4 * data.sigma), \
            max(x.max(), float(np.max(data.means)) + 4 * data.sigma)
        grid = np.linspace(lo, hi, 1000)
        ax.plot(grid, data.pdf(grid.reshape(-1, 1)), "k:", label="p_data")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue()))
