"""minigan.viz: the Figure 1 snapshot holds the right numbers, and every
plotting function writes a real, non-empty image file."""
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, data, models, optim, theory, viz
from minigan.train import GAN
from minigan.layers import Linear, Sequential

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _linear_gan(a=0.5, b=4.0, noise=None, seed=0):
    """G(z) = a z + b exactly (so p_g is known), a small untrained D."""
    noise = noise or data.uniform_noise(1)
    G = Sequential(Linear(noise.dim, 1, rng=0))
    G.layers[0].params["W"][...] = 0.0
    G.layers[0].params["W"][0, 0] = a
    G.layers[0].params["b"][...] = b
    D = models.mlp([1, 8, 1], "tanh", rng=seed)
    return GAN(G, D, data.gaussian_1d(), noise, d_optimizer=optim.SGD(D, 0.01),
               g_optimizer=optim.SGD(G, 0.01), m=32, seed=seed)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_figure1_snapshot_contents():
    gan = _linear_gan(a=0.5, b=4.0)
    gan.train(3)                                      # moves G a little: read a, b back
    a = float(backend.to_host(gan.G.layers[0].params["W"])[0, 0])
    b = float(backend.to_host(gan.G.layers[0].params["b"])[0])
    assert abs(a - 0.5) < 0.01 and abs(b - 4.0) < 0.01
    grid = np.linspace(0.0, 8.0, 401)
    snap = viz.figure1_snapshot(gan, data.gaussian_1d(), gan.noise_sampler, grid=grid,
                                n_samples=20000, n_z=11)
    assert snap["iteration"] == 3
    np.testing.assert_array_equal(snap["x"], grid)
    np.testing.assert_allclose(snap["p_data"], theory.gaussian_pdf(grid, 4.0, 0.5), rtol=1e-10)
    # D(x) is the trainer's own d_prob
    want_d = backend.to_host(gan.d_prob(backend.to_device(grid.reshape(-1, 1), dtype=gan.D.dtype)))
    np.testing.assert_allclose(snap["d"], want_d, rtol=1e-6)
    assert np.all((snap["d"] >= 0) & (snap["d"] <= 1))
    # the z -> x mapping: evenly spaced z over the uniform prior's support, x = G(z)
    np.testing.assert_allclose(snap["z"], np.linspace(-1, 1, 11))
    np.testing.assert_allclose(snap["g_z"], a * snap["z"] + b, rtol=1e-6)
    assert snap["z_span"] == (-1.0, 1.0)
    # p_g is estimated from samples: close to the exact uniform density of this linear G
    exact = theory.linear_generator_pdf(grid, a, b, gan.noise_sampler)
    assert theory.integrate(snap["p_g"], grid) == pytest.approx(1.0, abs=0.01)
    # (measured 0.012: the KDE rounds off the two jumps of a uniform density)
    assert theory.js_divergence(exact, snap["p_g"], grid) < 0.03
    assert theory.integrate(grid * snap["p_g"], grid) == pytest.approx(b, abs=0.01)
    assert snap["jsd"] == pytest.approx(theory.js_divergence(snap["p_data"], snap["p_g"], grid))


def test_figure1_snapshot_default_grid_and_multidim_noise():
    # 2-D Gaussian noise: the first coordinate is spaced evenly, the others are 0
    gan = _linear_gan(a=0.3, b=1.0, noise=data.gaussian_noise(2))
    gan.G.layers[0].params["W"][1, 0] = 5.0        # would move G(z) if z[1] were not 0
    snap = viz.figure1_snapshot(gan, data.gaussian_1d(), gan.noise_sampler, n_samples=2000, n_z=5)
    np.testing.assert_allclose(snap["z"], np.linspace(-2.5, 2.5, 5))
    np.testing.assert_allclose(snap["g_z"], 0.3 * snap["z"] + 1.0, rtol=1e-6)
    x = snap["x"]
    assert x[0] < 2.0 and x[-1] > 6.0                 # covers p_data's mean +- 4 sd
    assert len(x) == 601 and np.all(np.diff(x) > 0)


def test_figure1_snapshot_refuses_2d_data():
    gan = _linear_gan()
    with pytest.raises(ValueError, match="1-D data"):
        viz.figure1_snapshot(gan, data.ring8(), gan.noise_sampler)


def test_plot_figure1_and_animation_write_files(tmp_path):
    gan = _linear_gan(a=0.2, b=0.0)
    grid = np.linspace(-2, 7, 301)
    snaps = []
    for _ in range(3):
        snaps.append(viz.figure1_snapshot(gan, data.gaussian_1d(), gan.noise_sampler, grid=grid,
                                          n_samples=2000))
        gan.train(2)
    out = viz.plot_figure1(snaps, tmp_path / "figs" / "figure1.png", title="test")
    assert str(out).endswith("figure1.png")
    blob = _read(out)
    assert blob.startswith(PNG_MAGIC) and len(blob) > 5000
    # one snapshot alone is accepted too
    assert _read(viz.plot_figure1(snaps[0], tmp_path / "one.png")).startswith(PNG_MAGIC)
    gif = viz.animate_figure1(snaps, tmp_path / "figure1.gif")
    from PIL import Image
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == len(snaps)
    with pytest.raises(ValueError):
        viz.plot_figure1([], tmp_path / "none.png")


def test_plot_samples_2d(tmp_path):
    ring = data.ring8()
    s = ring(500, backend.default_rng(0))
    blob = _read(viz.plot_samples_2d(s, ring, tmp_path / "ring.png"))
    assert blob.startswith(PNG_MAGIC) and len(blob) > 2000
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.plot_samples_2d(np.zeros((5, 3)), ring, tmp_path / "bad.png")


def test_plot_history_from_rows_and_columns(tmp_path):
    gan = _linear_gan()
    gan.train(20)
    blob = _read(viz.plot_history(gan.history, tmp_path / "history.png"))
    assert blob.startswith(PNG_MAGIC) and len(blob) > 5000
    cols = {k: [r[k] for r in gan.history] for k in gan.history[0]}
    assert _read(viz.plot_history(cols, tmp_path / "h2.png")).startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="empty"):
        viz.plot_history([], tmp_path / "h3.png")


def test_image_grid_pixels(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.random((23, 784))
    imgs[0] = 0.0                                     # a black first tile
    path = viz.image_grid(imgs, tmp_path / "grid.png", nrow=8, scale=1)
    from PIL import Image
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), dtype=np.float64)
    # 8 per row -> 3 rows; 2-pixel white padding around every 28x28 tile
    assert a.shape == (3 * 30 + 2, 8 * 30 + 2)
    assert a[2:30, 2:30].max() == 0                   # the black tile
    assert a[0, :].min() == 255 and a[:, 0].min() == 255
    tile = a[2:30, 32:60] / 255.0                     # second image, through a 256-level
    np.testing.assert_allclose(tile, imgs[1].reshape(28, 28), atol=2 / 255)   # grey map
    big = viz.image_grid(imgs.reshape(-1, 28, 28), tmp_path / "big.png", nrow=5)
    with Image.open(big) as im:
        assert im.size == ((5 * 30 + 2) * 2, (5 * 30 + 2) * 2)
    with pytest.raises(ValueError):
        viz.image_grid(rng.random((4, 100)), tmp_path / "bad.png")


def test_viz_does_not_touch_pyplot_or_the_backend():
    # (matplotlib.get_backend() itself imports pyplot, so read the raw rcParam)
    code = ("import matplotlib, sys; raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend'); "
            "before = raw(); import minigan.viz; "
            "print('matplotlib.pyplot' in sys.modules, raw() == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


# ---------------------------------------------------------------------- the Figure 1 figure itself
def _panels(fig):
    """(density axes, D axes) of a Figure 1 figure, panel by panel (D's is the twin of each)."""
    axes = fig.get_axes()
    density = [ax for ax in axes if ax.get_ylabel().startswith("density")]
    d = [ax for ax in axes if ax.get_ylabel() == "D(x)"]
    assert len(density) == len(d) == len(axes) // 2
    return density, d


def _snapshots_with_a_sharp_p_g():
    """Three snapshots, the first of a G that maps all z into [-0.01, 0.01] (p_g near 50: far
    above p_data's 0.8 and above 1), as a fresh G's can be."""
    grid = np.linspace(-2, 7, 301)
    snaps = []
    for a, b in ((0.01, 0.0), (0.3, 3.0), (0.5, 4.0)):
        gan = _linear_gan(a=a, b=b)
        snaps.append(viz.figure1_snapshot(gan, data.gaussian_1d(), gan.noise_sampler, grid=grid,
                                          n_samples=4000))
    return snaps


def test_figure1_axes_cover_the_curves_and_are_labelled():
    snaps = _snapshots_with_a_sharp_p_g()
    assert np.max(snaps[0]["p_g"]) > 5.0              # the case that used to be cut off at y = 1.05
    fig = viz.figure1_figure(snaps)
    density, d_axes = _panels(fig)
    for ax, d_ax, snap in zip(density, d_axes, snaps):
        bottom, top = ax.get_ylim()
        assert top >= np.max(snap["p_g"]) and top >= np.max(snap["p_data"])
        assert bottom < 0                             # room for the x and z lines
        # the curve drawn is p_g itself, not a clipped copy
        p_g_line = next(line for line in ax.get_lines() if line.get_label() == "p_g")
        np.testing.assert_array_equal(p_g_line.get_ydata(), snap["p_g"])
        # D on its own [0, 1] axis whose 0 is level with the densities' 0
        d_lo, d_hi = d_ax.get_ylim()
        assert d_hi >= 1.0 and d_lo / d_hi == pytest.approx(bottom / top)
        d_line = next(line for line in d_ax.get_lines() if line.get_label() == "D(x)")
        np.testing.assert_array_equal(d_line.get_ydata(), snap["d"])
        assert ax.get_xlabel().startswith("x")
        assert min(ax.get_yticks()) >= 0.0            # no density ticks under the x line
    # only the sharp panel is stretched: the others keep the common scale
    assert density[0].get_ylim()[1] > 5.0 and density[1].get_ylim()[1] < 2.0


def test_figure1_legend_sits_apart_from_every_panel():
    fig = viz.figure1_figure(_snapshots_with_a_sharp_p_g(), title="a title", note="a note")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert [t.get_text() for t in legend.get_texts()] == ["p_data", "p_g", "D(x)", "z -> x = G(z)"]
    for ax in fig.get_axes():
        assert not box.overlaps(ax.get_window_extent(renderer)), "the legend covers a panel"
    texts = [t.get_text() for t in fig.texts]
    assert "a title" in texts and "a note" in texts


def test_figure1_panel_letters_are_optional():
    snaps = _snapshots_with_a_sharp_p_g()
    lettered, _ = _panels(viz.figure1_figure(snaps))
    assert [ax.get_title().split()[0] for ax in lettered] == ["(a)", "(b)", "(c)"]
    plain, _ = _panels(viz.figure1_figure(snaps, labels=None))
    assert [ax.get_title() for ax in plain] == [f"iteration 0   JSD {s['jsd']:.3f}" for s in snaps]
