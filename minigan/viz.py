"""Pictures of a GAN at work: the paper's Figure 1, 2-D samples, training curves.

Everything draws on ``matplotlib.figure.Figure`` objects rendered by the Agg
canvas and saved to files: no ``pyplot``, no window, no ``plt.show()``, and
no change to the global matplotlib backend of whoever imports this module
(so it is safe in scripts, on servers and inside notebooks).

Figure 1 of Goodfellow et al. (2014) shows, for a 1-D problem, the data
density p_data (black dots), the generator's density p_g (green, solid), the
discriminator D(x) (blue, dashed), and below them two horizontal lines: the
lower one is the domain of z, the upper one part of the domain of x, with
arrows showing how x = G(z) maps uniformly spaced z onto non-uniformly
spaced x (where the arrows bunch up, p_g is high). Panels (a)-(d) are moments
of training. ``figure1_snapshot`` records one such moment; ``plot_figure1``
draws a row of them (lettered (a), (b), ... as the paper's, or titled by their
iteration alone); ``animate_figure1`` makes them a GIF. Here the densities have
their own axis (left, scaled in each panel to cover p_data and p_g: a fresh G's
p_g can peak far above 1) and D(x) its own (right, [0, 1]); the paper draws them
unscaled on one.
"""
from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from matplotlib.image import imsave

from . import backend, theory
from .layers import evaluating

__all__ = ["figure1_snapshot", "figure1_figure", "plot_figure1", "animate_figure1", "plot_samples_2d",
           "plot_history", "plot_curves", "plot_autoencoder_history", "image_grid"]

LOG4 = math.log(4.0)
_PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _figure(width, height):
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _prepare_path(path):
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return path


def _host(x):
    return np.asarray(backend.to_host(x), dtype=np.float64)


# ----------------------------------------------------------------------------- Figure 1
def _noise_span(noise):
    """Interval of z values to draw: the support of a uniform prior, or
    +-2.5 standard deviations of a Gaussian one (99% of its mass)."""
    if hasattr(noise, "low") and hasattr(noise, "high"):
        return float(noise.low), float(noise.high)
    return -2.5, 2.5


def figure1_snapshot(gan, data, noise, grid=None, n_samples=20000, n_z=21, seed=0):
    """Record one moment of a 1-D GAN for a Figure 1 style panel.

    Parameters
    ----------
    gan : ``minigan.train.GAN`` whose G maps noise to 1-D x and whose D takes 1-D x.
    data : the p_data distribution, with an exact ``pdf`` (e.g. ``data.gaussian_1d()``).
    noise : the noise prior of ``gan`` (``uniform_noise`` or ``gaussian_noise``).
    grid : x values (1-D, increasing). Default: 601 points over
        [min, max] of the data's mean +- 4 sd and the central 99.8% of the
        generator's samples, padded by 10%.
    n_samples : samples of G for the density estimate of p_g (a Gaussian KDE,
        see ``minigan.theory.estimate_density``), drawn from a generator seeded
        with ``seed`` so the snapshot does not disturb training's random stream.
    n_z : how many evenly spaced z values to map through G for the arrows.
        For a noise prior of more than one dimension, the first coordinate of z
        is spaced evenly and the others are held at 0 (the prior's centre):
        the arrows then show one slice of the mapping, not all of it.

    Returns a dict of host float64 arrays and numbers: ``x``, ``p_data``,
    ``p_g``, ``d`` (D(x) in eval mode), ``z`` and ``g_z`` (the mapping),
    ``z_span`` (the interval of z drawn), ``iteration`` (``gan.iteration``)
    and ``jsd`` (JSD(p_data || p_g) on the grid, with the estimated p_g).
    """
    if getattr(data, "dim", 1) != 1:
        raise ValueError(f"figure1_snapshot needs 1-D data, got dimension {data.dim}")
    noise_dim = int(getattr(noise, "dim", 1))
    samples = _host(gan.sample(n_samples, rng=backend.default_rng(seed)))
    if samples.ndim == 2 and samples.shape[1] != 1:
        raise ValueError(f"figure1_snapshot needs a generator with 1-D output, got {samples.shape}")
    samples = samples.reshape(-1)
    if grid is None:
        spread = 4.0 * float(getattr(data, "sigma", 1.0))
        means = np.asarray(getattr(data, "means", [[0.0]]), dtype=np.float64).reshape(-1)
        lo = min(means.min() - spread, np.quantile(samples, 0.001))
        hi = max(means.max() + spread, np.quantile(samples, 0.999))
        pad = 0.1 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 601)
    x = _host(grid).reshape(-1)
    p_data = np.asarray(data.pdf(x.reshape(-1, 1)), dtype=np.float64)
    p_g = theory.estimate_density(samples, x)
    d = _host(gan.d_prob(backend.to_device(x.reshape(-1, 1), dtype=gan.D.dtype)))
    lo_z, hi_z = _noise_span(noise)
    z1 = np.linspace(lo_z, hi_z, int(n_z))
    z = np.zeros((len(z1), noise_dim))
    z[:, 0] = z1
    g_dtype = gan.G.dtype
    with evaluating(gan.G):
        g_z = _host(gan.G.forward(backend.to_device(z, dtype=g_dtype))).reshape(-1)
    return {"x": x, "p_data": p_data, "p_g": p_g, "d": d, "z": z1, "g_z": g_z,
            "z_span": (lo_z, hi_z), "iteration": int(gan.iteration),
            "jsd": theory.js_divergence(p_data, p_g, x)}


def _as_list(snapshots):
    if isinstance(snapshots, dict):
        return [snapshots]
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError("need at least one snapshot (from figure1_snapshot)")
    return snapshots


def _figure1_limits(snaps):
    """(x_lo, x_hi, top): the x range shared by all panels, and the smallest top of the
    density axis (p_data with room above it; a panel raises its own top to its p_g)."""
    x_lo = min(float(s["x"][0]) for s in snaps)
    x_hi = max(float(s["x"][-1]) for s in snaps)
    top = max(1.05, 1.3 * max(float(np.max(s["p_data"])) for s in snaps))
    return x_lo, x_hi, top


D_TOP = 1.05                 # the top of every panel's D(x) axis (D lies in [0, 1])
# what a panel's D means away from the data (lesson 04's sentence)
D_FAR_FROM_DATA = ("Where p_data + p_g has little mass, D sees few samples and nothing pins it down: "
                   "its value there is not learnt.")


def _density_top(snap, limits):
    """The top of one panel's density axis: the shared top, raised to cover the panel's
    own p_g and p_data (a p_g sharper than p_data, as a fresh G's often is, is never cut off)."""
    peak = max(float(np.max(snap["p_g"])), float(np.max(snap["p_data"])))
    return max(limits[2], 1.08 * peak) if np.isfinite(peak) else limits[2]


def _nice_ticks(top, n=4):
    """Tick values in [0, top] for a density axis."""
    from matplotlib.ticker import MaxNLocator
    return [t for t in MaxNLocator(n).tick_values(0.0, top) if 0.0 <= t <= top]


def _draw_figure1_panel(ax, snap, limits, label=None):
    """One Figure 1 panel onto ``ax``: p_data and p_g on ``ax``'s axis (left, "density", scaled
    to cover both curves), D(x) on a twin axis (right, [0, 1]) whose 0 is level with the
    densities' 0; below them the x line and the z line with the arrows z -> x = G(z).
    Returns the twin axis of D."""
    x_lo, x_hi = limits[0], limits[1]
    top = _density_top(snap, limits)
    x, p_data, p_g, d = snap["x"], snap["p_data"], snap["p_g"], snap["d"]
    # the two lines under the curves: x at y_x, z at y_z (fractions of the axis' height)
    y_x, y_z = -0.12 * top, -0.42 * top
    bottom = y_z - 0.06 * top
    every = max(1, len(x) // 60)
    ax.plot(x[::every], p_data[::every], "o", color="black", markersize=2.5, label="p_data")
    ax.plot(x, p_g, "-", color="green", linewidth=1.6, label="p_g")
    ax.axhline(0.0, color="0.85", linewidth=0.6)
    ax.plot([x_lo, x_hi], [y_x, y_x], color="black", linewidth=1.0)
    ax.plot([x_lo, x_hi], [y_z, y_z], color="black", linewidth=1.0)
    ax.text(x_lo, y_x, "x ", ha="right", va="center", fontsize=9)
    ax.text(x_lo, y_z, "z ", ha="right", va="center", fontsize=9)
    # z lives in its own interval; it is stretched to the panel's width so the
    # evenly spaced z ticks sit under the whole x line, as in the paper
    z_lo, z_hi = snap["z_span"]
    margin = 0.08 * (x_hi - x_lo)
    z_pos = x_lo + margin + (np.asarray(snap["z"]) - z_lo) / (z_hi - z_lo) * (x_hi - x_lo - 2 * margin)
    for zp, gx in zip(z_pos, snap["g_z"]):
        gx_clipped = min(max(float(gx), x_lo), x_hi)
        ax.annotate("", xy=(gx_clipped, y_x), xytext=(zp, y_z),
                    arrowprops={"arrowstyle": "->", "color": "0.35", "linewidth": 0.7,
                                "shrinkA": 0, "shrinkB": 0})
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(bottom, top)
    ax.set_yticks(_nice_ticks(top))
    ax.set_xlabel("x  (the z line below is stretched to the width)", fontsize=7)
    ax.set_ylabel("density: p_data, p_g", fontsize=8)
    # D on its own axis: [0, 1] whatever the densities' scale, its 0 level with theirs
    d_ax = ax.twinx()
    d_ax.plot(x, d, "--", color="blue", linewidth=1.4, label="D(x)")
    d_ax.set_ylim(bottom / top * D_TOP, D_TOP)
    d_ax.set_yticks([0.0, 0.5, 1.0])
    d_ax.set_ylabel("D(x)", fontsize=8, color="blue")
    d_ax.tick_params(labelsize=8, colors="blue", axis="y")
    title = snap.get("caption") or f"iteration {snap['iteration']}"     # a caption the caller gave
    if "jsd" in snap:
        title += f"   JSD {snap['jsd']:.3f}"
    ax.set_title(f"({label}) {title}" if label else title, fontsize=9)
    ax.tick_params(labelsize=8)
    return d_ax


def _figure1_legend(fig, ax, d_ax, title, note=None):
    """One legend for the figure, in a row of its own just above the panels (never over a
    curve), the title above it and ``note`` under the panels."""
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = d_ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D
    handles += more + [Line2D([], [], color="0.35", linewidth=0.7, marker=">", markersize=4)]
    labels += more_labels + ["z -> x = G(z)"]
    inch = 1.0 / fig.get_figheight()             # one inch as a fraction of the figure's height
    head = 1.0 - (0.5 if title else 0.28) * inch   # the legend's row, and the title's above it
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, head), ncol=len(labels),
               fontsize=8, frameon=False)
    if title:     # figure text, not a suptitle, so that tight_layout leaves no gap for it
        fig.text(0.01, 1.0 - 0.06 * inch, title, fontsize=10, ha="left", va="top")
    foot = 0.0
    if note:
        fig.text(0.01, 0.06 * inch, note, fontsize=7.5, ha="left", va="bottom")
        foot = 0.25 * inch
    fig.tight_layout(rect=(0, foot, 1, head))


def figure1_figure(snapshots, title=None, labels=_PANEL_LETTERS, note=None):
    """The Figure 1 panels of ``snapshots`` in a row, as a ``matplotlib.figure.Figure``
    (``plot_figure1`` saves it). ``labels``: the letters that open the panels' titles
    ("abcd...", the paper's panels), or None for titles that are the snapshots' own
    (their iteration, or their ``"caption"``). ``note``: a line of text under the panels."""
    snaps = _as_list(snapshots)
    limits = _figure1_limits(snaps)
    n = len(snaps)
    fig = _figure(3.4 * n + 0.6, 3.9 + (0.3 if note else 0.0))
    axes = fig.subplots(1, n, squeeze=False)[0]
    d_axes = [_draw_figure1_panel(ax, snap, limits, labels[i % len(labels)] if labels else None)
              for i, (ax, snap) in enumerate(zip(axes, snaps))]
    _figure1_legend(fig, axes[0], d_axes[0], title, note)
    return fig


def plot_figure1(snapshots, path, title=None, labels=_PANEL_LETTERS, note=None):
    """Draw snapshots as Figure 1 panels in a row; save a PNG at ``path`` (folders created)
    and return ``path``.

    Black dots: p_data; green line: p_g (estimated from samples), both on the left axis
    (density, scaled in each panel to cover both curves); blue dashed: D(x) on the right
    axis, [0, 1]; the lower horizontal line is z (its interval stretched to the panel
    width), with arrows to x = G(z) on the line above it. All panels share one x range
    (the union of the snapshots' grids): give every snapshot the same ``grid`` for curves
    that span every panel. A panel's title is its letter from ``labels`` ("(a)", "(b)",
    ...: pass ``labels=None`` for panels that are not the paper's (a)-(d)), then the
    snapshot's ``"caption"`` when it has one (else its iteration), then its JSD.
    ``note``: a line under the panels.
    """
    fig = figure1_figure(snapshots, title, labels, note)
    path = _prepare_path(path)
    fig.savefig(path, format="png")
    return path


def animate_figure1(snapshots, path, fps=4, title=None):
    """The snapshots as an animated GIF, one frame each (Pillow writer, which
    comes with matplotlib's own dependency on Pillow). Returns ``path``."""
    snaps = _as_list(snapshots)
    limits = _figure1_limits(snaps)
    fig = _figure(5.4, 4.0)
    path = _prepare_path(path)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi=80):
        for snap in snaps:
            fig.clear()                        # the axes, D's twin axis and the legend
            ax = fig.add_subplot(1, 1, 1)
            d_ax = _draw_figure1_panel(ax, snap, limits)
            _figure1_legend(fig, ax, d_ax, title)
            writer.grab_frame()
    return path


# ----------------------------------------------------------------------------- 2-D toys
def plot_samples_2d(samples, data, path, title=None):
    """Scatter of 2-D generator samples with the mixture's means marked (red x),
    e.g. for ring8 / grid25. If ``data`` has ``mode_coverage``, the modes
    captured and the high-quality fraction go in the title. Returns ``path``."""
    s = _host(samples)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"plot_samples_2d needs samples of shape (n, 2), got {s.shape}")
    means = np.asarray(data.means, dtype=np.float64)
    fig = _figure(4.6, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(means[:, 0], means[:, 1], marker="+", s=60, color="red", linewidths=0.8,
               zorder=1, label="mode means")
    ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4, color="green", linewidths=0, zorder=2,
               label="G(z)")
    span = np.abs(means).max() + 6 * float(getattr(data, "sigma", 0.1)) + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    text = title or getattr(data, "name", "")
    if hasattr(data, "mode_coverage"):
        cov = data.mode_coverage(s)
        text = f"{text}  modes {cov['modes']}/{cov['of']}, high quality {100 * cov['high_quality']:.1f}%"
    ax.set_title(text.strip(), fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path = _prepare_path(path)
    fig.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------- training curves
def _columns(history):
    """History as columns: accepts ``GAN.history`` (a ``gan.History``), a list of
    row dicts, or a dict of sequences (e.g. read back from CSV)."""
    if hasattr(history, "column") and hasattr(history, "fields"):
        if len(history) == 0:
            raise ValueError("history is empty: nothing to plot")
        cols = {k: history.column(k) for k in history.fields}
    elif isinstance(history, dict):
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    else:
        rows = list(history)
        if not rows:
            raise ValueError("history is empty: nothing to plot")
        keys = rows[0].keys()
        cols = {k: np.asarray([float(r[k]) for r in rows], dtype=np.float64) for k in keys}
    if "iteration" not in cols:
        n = len(next(iter(cols.values())))
        cols["iteration"] = np.arange(1, n + 1, dtype=np.float64)
    return cols


def _smooth(y, width):
    """Running mean over ``width`` points (same length; shorter window at the start)."""
    if width <= 1 or len(y) < 2:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - width, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_curves(history, panels, path, title=None):
    """Training curves vs iteration, raw (faint) and smoothed, one panel per entry of ``panels``.

    ``panels``: a list of dicts ``{"title": str, "curves": [(field, color, label), ...]}`` with
    optional ``"line": (y, label)`` (a dotted reference line), ``"ylim": (lo, hi)`` and
    ``"log": True`` (a log scale where every value is > 0). A field the history lacks is
    skipped. ``history``: a trainer's ``History``, a list of row dicts or a dict of columns.
    Returns ``path``.
    """
    cols = _columns(history)
    it = cols["iteration"]
    width = max(1, len(it) // 50)
    fig = _figure(3.7 * len(panels), 3.3)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels):
        shown = [key for key, _, _ in panel["curves"] if key in cols]
        for key, color, label in panel["curves"]:
            if key in cols:
                ax.plot(it, cols[key], color=color, alpha=0.25, linewidth=0.7)
                ax.plot(it, _smooth(cols[key], width), color=color, linewidth=1.4, label=label)
        if "line" in panel:
            ax.axhline(panel["line"][0], color="red", linestyle=":", linewidth=1.0, label=panel["line"][1])
        if "ylim" in panel:
            ax.set_ylim(*panel["ylim"])
        if panel.get("log") and shown and all(np.all(cols[k] > 0) for k in shown):
            ax.set_yscale("log")
        ax.set_xlabel("iteration", fontsize=8)
        ax.set_title(panel["title"], fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = _prepare_path(path)
    fig.savefig(path, format="png")
    return path


def plot_history(history, path, title=None):
    """A GAN's training curves vs iteration, raw (faint) and smoothed (``plot_curves``).

    Panels: V(D, G) with the -log 4 line (its value at the game's optimum);
    mean D(x) and mean D(G(z)) with the 1/2 line; D's and G's losses; and,
    when the history has them, the gradient norms of D and G (log scale).
    ``history``: ``GAN.history``, a list of row dicts or a dict of columns.
    Returns ``path``.
    """
    cols = _columns(history)
    panels = [{"title": "value function", "curves": [("V", "black", "V(D, G)")], "line": (-LOG4, "-log 4")},
              {"title": "discriminator outputs", "curves": [("D_real", "blue", "D(x)"),
                                                            ("D_fake", "green", "D(G(z))")],
               "line": (0.5, "1/2"), "ylim": (-0.02, 1.02)},
              {"title": "losses", "curves": [("d_loss", "blue", "D loss"), ("g_loss", "green", "G loss")]}]
    if "d_grad_norm" in cols or "g_grad_norm" in cols:
        panels.append({"title": "gradient norms", "log": True,
                       "curves": [("d_grad_norm", "blue", "|grad D|"), ("g_grad_norm", "green", "|grad G|")]})
    return plot_curves(cols, panels, path, title)


def plot_autoencoder_history(history, path, title=None):
    """An autoencoder's training curves (``AutoencoderTrainer.history``): the loss per example
    with its reconstruction and (a VAE) KL terms, and the gradient norm (log scale)."""
    panels = [{"title": "loss per example (nats for the Bernoulli decoder)",
               "curves": [("loss", "black", "loss"), ("reconstruction", "blue", "reconstruction")]},
              {"title": "KL(q(z|x) || N(0, I)) per example", "curves": [("kl", "purple", "KL")]},
              {"title": "gradient norm", "curves": [("grad_norm", "green", "|grad|")], "log": True}]
    cols = _columns(history)
    if "kl" not in cols or not np.any(np.isfinite(cols["kl"])):
        panels.pop(1)                     # not variational: no KL term
    return plot_curves(cols, panels, path, title)


# ----------------------------------------------------------------------------- images
def tile_images(images, nrow, padding=2):
    """Grey images (n, H, W) tiled ``nrow`` to a row on a white canvas, ``padding`` pixels
    apart, values clipped to [0, 1] (float64 host array)."""
    a = np.asarray(images, dtype=np.float64)
    n, h, w = a.shape
    cols = min(int(nrow), n)
    rows = -(-n // cols)
    canvas = np.ones((rows * (h + padding) + padding, cols * (w + padding) + padding))
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        canvas[top:top + h, left:left + w] = np.clip(a[i], 0.0, 1.0)
    return canvas


def image_grid(images, path, nrow=10, shape=(28, 28), padding=2, scale=2):
    """Tile grey images (values in [0, 1]) into one PNG, ``nrow`` images per row.

    ``images``: shape (n, H*W) (flat, e.g. MNIST's 784) or (n, H, W). Values
    outside [0, 1] are clipped; the padding between tiles is white. Pixels
    are written exactly (no resampling), each repeated ``scale`` x ``scale``
    times. Returns ``path``.
    """
    a = _host(images)
    if a.ndim == 2:
        h, w = shape
        if a.shape[1] != h * w:
            raise ValueError(f"image_grid: flat images need {h}*{w} = {h * w} values, got {a.shape[1]}")
        a = a.reshape(-1, h, w)
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"image_grid needs images of shape (n, H*W) or (n, H, W), got {a.shape}")
    nrow, scale = int(nrow), int(scale)
    if nrow < 1 or scale < 1:
        raise ValueError(f"image_grid needs nrow >= 1 and scale >= 1, got {nrow}, {scale}")
    canvas = tile_images(a, nrow, padding)
    if scale > 1:
        canvas = np.kron(canvas, np.ones((scale, scale)))
    path = _prepare_path(path)
    imsave(path, canvas, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return path
