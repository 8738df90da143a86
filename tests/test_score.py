"""minigan score: the table, the JSON, the reference row, and bad input.

Everything runs on generated digits (ten noisy prototype images written as IDX files, read by
the same load_mnist the real data goes through), with a tiny classifier pre-trained into a
cache folder (``score.CLASSIFIER_SETTINGS`` makes the command ask for the same settings) and
tiny mnist-paper checkpoints (2 iterations): seconds in all.
"""
import json

import numpy as np
import pytest

from minigan import backend, cli
from minigan.cli import score
from minigan.data import mnist
from minigan.metrics import (density_coverage, frechet_distance, inception_score, kth_neighbour_radii,
                             mnist_classifier, precision_recall)

SMALL = dict(hidden=[32], features=16, epochs=3, m=10, lr=1e-3, keep_input=0.9, keep_hidden=0.9, n_train=300)
N_TRAIN, N_TEST = 50200, 150          # 200 rows past 50,000: a 'valid' split for the Parzen protocol


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(data folder, classifier cache, the classifier, checkpoint with an average of G, one without),
    made on the run's backend."""
    root = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(5)
    protos = rng.integers(0, 256, (10, 784))
    folder = root / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        y = np.arange(n) % 10
        x = np.clip(protos[y] + rng.integers(-60, 61, (n, 784)), 0, 255).astype(np.uint8)
        mnist.write_idx(folder / f"{prefix}-images-idx3-ubyte", x.reshape(n, 28, 28))
        mnist.write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    data = str(root / "data")
    cache = root / "cache"
    clf = mnist_classifier(data_dir=data, cache_dir=cache, **SMALL)
    runs = {}
    for name, extra in (("avg", ["--g-average", "0.9"]), ("plain", [])):
        out = root / name
        assert cli.train_main(["mnist-paper", "--data-dir", data, "--iterations", "2", "--out", str(out),
                               "--no-progress", "--no-figures", *extra]) == 0
        runs[name] = out / "checkpoint.npz"
    return data, cache, clf, runs["avg"], runs["plain"]


@pytest.fixture
def small_settings(monkeypatch):
    monkeypatch.setattr(score, "CLASSIFIER_SETTINGS", dict(SMALL))


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan score: error: "), err
    return lines[0][len("minigan score: error: "):]


def table_rows(out):
    """{row name: its cells} from the printed table."""
    rows = {}
    for line in out.splitlines():
        name, cells = line[:12].strip(), line[12:].split()
        if name in ("G", "averaged G", "real train") and len(cells) >= 8 and cells[1] == "+-":
            rows[name] = cells
    return rows


def test_table_and_json(world, small_settings, capsys):
    data, cache, clf, ckpt, _ = world
    n = 200
    argv = [str(ckpt), "--n-samples", str(n), "--classifier-cache", str(cache)]
    assert cli.main(["score", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""                                     # cached: nothing trained, nothing said
    path = ckpt.parent / "score_it2.json"
    assert f"wrote {path}" in captured.out
    result = json.loads(path.read_text())
    assert result["command"] == "minigan score " + " ".join(argv)
    assert (result["n_samples"], result["n_real"], result["n_test"], result["seed"]) == (n, n, N_TEST, 0)
    assert result["iteration"] == 2 and result["averaged"] is False
    assert result["classifier"]["test_accuracy"] == clf.test_accuracy
    assert result["classifier"]["settings"] == clf.settings and result["classifier"]["features"] == 16
    assert [r["generator"] for r in result["rows"]] == ["G", "real train"]
    printed = table_rows(captured.out)
    assert set(printed) == {"G", "real train"}
    for row in result["rows"]:                                    # the JSON holds the printed numbers
        cells = printed[row["generator"]]
        assert cells == [f"{row['inception_score']:.3f}", "+-", f"{row['inception_score_std']:.3f}",
                         f"{row['fid']:.3f}", f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                         f"{row['density']:.4f}", f"{row['coverage']:.4f}"]
        assert row["n"] == n and row["fid"] >= 0 and row["density"] >= 0
        assert 1 <= row["inception_score"] <= 10
        for k in ("precision", "recall", "coverage"):
            assert 0 <= row[k] <= 1
    # the reference row is the metrics of the first n real training images against the test set
    train = mnist.load_mnist("train", data_dir=data)[0][:n]
    test = mnist.load_mnist("test", data_dir=data)[0]
    real, ft, fr = result["rows"][1], clf.features(test), clf.features(train)
    assert (real["inception_score"], real["inception_score_std"]) == pytest.approx(
        inception_score(clf.probabilities(train)), rel=1e-12)
    assert real["fid"] == pytest.approx(frechet_distance(fr, ft), rel=1e-9)
    assert (real["precision"], real["recall"]) == pytest.approx(precision_recall(ft, fr, k=3))
    assert (real["density"], real["coverage"]) == pytest.approx(density_coverage(ft, fr, k=5))
    # real digits of the same prototypes score closer to the test set than 2 iterations of G
    assert real["fid"] < result["rows"][0]["fid"]


def test_score_checkpoint_takes_a_classifier(world, small_settings, capsys):
    """The function the command calls, given the classifier object: the same numbers; the seed matters."""
    data, cache, clf, ckpt, _ = world
    a = score.score_checkpoint(ckpt, classifier=clf, n_samples=150)
    b = score.score_checkpoint(ckpt, classifier=clf, n_samples=150)
    c = score.score_checkpoint(ckpt, classifier=clf, n_samples=150, seed=1)
    assert a["rows"] == b["rows"]
    assert a["rows"][0]["fid"] != c["rows"][0]["fid"] and a["rows"][1] == c["rows"][1]
    assert "real train" in score.format_table(a)


def test_averaged_and_parzen(world, small_settings, capsys, tmp_path):
    data, cache, clf, ckpt, _ = world
    out = tmp_path / "s.json"
    assert score.score_main([str(ckpt), "--averaged", "--parzen", "--n-samples", "150",
                             "--classifier-cache", str(cache), "--json", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(out.read_text())
    assert not (ckpt.parent / "score_it2_averaged.json").exists()
    assert [r["generator"] for r in result["rows"]] == ["averaged G", "real train"]
    assert "Parzen LL" in captured.out and result["n_valid"] == 200
    for row in result["rows"]:
        assert np.isfinite(row["parzen_ll"]) and row["parzen_se"] > 0 and row["parzen_sigma"] > 0
        assert f"{row['parzen_ll']:.1f} +- {row['parzen_se']:.1f}" in captured.out
    assert score.json_path(ckpt, 2, averaged=True).name == "score_it2_averaged.json"


def test_an_uncached_classifier_is_trained_and_said_so(world, small_settings, capsys, tmp_path):
    data, cache, clf, ckpt, _ = world
    fresh = tmp_path / "fresh"
    assert score.score_main([str(ckpt), "--n-samples", "150", "--classifier-cache", str(fresh),
                             "--json", str(tmp_path / "s.json")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"minigan score: training the MNIST feature classifier (minutes on 2 cores; "
                      f"cached in {fresh})")
    assert any(line.strip().startswith("epoch") for line in err[1:])
    assert (fresh / "mnist_classifier_seed0.npz").exists()


def test_bad_input_is_one_line(world, small_settings, capsys, tmp_path, monkeypatch):
    data, cache, clf, avg, plain = world
    base = ["--classifier-cache", str(cache), "--n-samples", "150"]
    backend.use("numpy")
    toy = tmp_path / "toy"
    assert cli.train_main(["toy1d", "--iterations", "2", "--no-progress", "--no-figures", "--out", str(toy)]) == 0
    capsys.readouterr()
    cases = [([str(tmp_path / "nope.npz")], "nope.npz"),
             ([str(toy / "checkpoint.npz")], "its generator draws samples of 1 numbers, not 28 x 28 images"),
             ([str(plain), "--averaged"], "average"),
             ([str(plain), "--n-samples", "128"],
              "--n-samples must be at least 129: FID needs more samples than the classifier's 128 features, "
              "got 128"),
             ([str(plain), "--json", str(tmp_path)], "is a folder, not a file"),
             ([str(plain), "--data-dir", str(tmp_path / "nowhere")], "is not a folder")]
    for argv, words in cases:
        assert score.score_main(argv + base[:2] + (base[2:] if "--n-samples" not in argv else [])) == 2, argv
        assert words in one_error_line(capsys.readouterr().err), argv
    assert not list(plain.parent.glob("score_*.json"))
    # no MNIST anywhere: the one line every command prints
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(mnist, "MIRRORS", {k: ["http://127.0.0.1:9/"] for k in mnist.KINDS})
    mnist._CACHE.clear()
    (tmp_path / "empty").mkdir()
    try:
        assert score.score_main([str(plain), "--data-dir", str(tmp_path / "empty"), *base]) == 2
    finally:
        mnist._CACHE.clear()
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("mnist files not found: ") and "pass --data-dir FOLDER" in line


def test_rows_with_the_shared_test_radii_equal_rows_without(world):
    # score_checkpoint computes the test set's k = 3 and 5 radii once and passes them to every row,
    # and takes P, R, D and C from one pass (neighbour_scores): each row's numbers are the very ones
    # the textbook metrics give, each computing its own radii and distances
    data, cache, clf, _, _ = world
    test = mnist.load_mnist("test", data_dir=data)[0]
    train = mnist.load_mnist("train", data_dir=data)[0][:140]
    test_features = clf.features(test)
    shared = kth_neighbour_radii(test_features, (3, 5), squared=True)
    for images in (train, np.random.default_rng(1).random((140, 784)).astype(np.float32)):
        row = score.score_row("x", images, test_features, clf, test_sq_radii=shared)
        assert row == score.score_row("x", images, test_features, clf)
        f = clf.features(images)
        assert (row["precision"], row["recall"]) == precision_recall(test_features, f, k=3)
        assert (row["density"], row["coverage"]) == density_coverage(test_features, f, k=5)


def test_listed_as_a_command():
    assert "score" in cli.COMMANDS and "score" in cli.usage()


def test_table1_metrics_scores_the_trained_G_and_each_average_from_the_same_noise(world, small_settings, tmp_path):
    """benchmarks/table1_metrics.py on a table1_parzen-style folder (last.npz, averages.npz): one row per
    generator and the real row; an average with decay 0 is the trained G itself, so with the same z its
    row equals the trained G's number for number."""
    import importlib.util
    import shutil
    from pathlib import Path
    from minigan import presets
    from minigan.optim import ParameterAverage
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    spec = importlib.util.spec_from_file_location("table1_metrics", bench / "table1_metrics.py")
    t1m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t1m)
    spec = importlib.util.spec_from_file_location("table1_parzen", bench / "table1_parzen.py")
    t1p = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t1p)
    data, cache, clf, _, plain = world
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(plain, run_dir / "last.npz")
    run, _ = presets.restore_run(str(run_dir / "last.npz"), load_data=False)
    averages = {"average 0": ParameterAverage(run.trainer.G, 0.0), "average 0.9": ParameterAverage(run.trainer.G, 0.9)}
    rng = np.random.default_rng(3)
    for _ in range(3):                              # three "iterates", the last one the trained G
        for avg in averages.values():
            avg.update()
        for k, p in run.trainer.G.params.items():
            p += backend.to_device(rng.normal(0, 0.01, p.shape), dtype=p.dtype)
    for k, p in run.trainer.G.params.items():      # put the trained G back; average 0 follows it
        p[...] = presets.restore_run(str(run_dir / "last.npz"), load_data=False)[0].trainer.G.params[k]
    averages["average 0"].update()
    t1p.save_averages(run_dir / "averages.npz", averages, run.trainer.iteration)
    figure = tmp_path / "fig.png"
    trained = presets.restore_run(str(run_dir / "last.npz"), load_data=False)[0].trainer.G
    np.savez(tmp_path / "G_same.npz", **{k: backend.to_host(v) for k, v in trained.state_dict().items()})
    assert t1m.main([str(run_dir), "--data-dir", data, "--n-samples", "150", "--classifier-cache", str(cache),
                     "--figure", str(figure), "--g-params", str(tmp_path / "G_same.npz")]) == 0
    result = json.loads((run_dir / f"metrics_it{run.trainer.iteration}.json").read_text())
    names = [r["generator"] for r in result["rows"]]
    assert names == ["trained G", "average 0", "average 0.9", "G_same", "real train"]
    g, a0, a9, same, real = result["rows"]
    assert {k: v for k, v in a0.items() if k != "generator"} == {k: v for k, v in g.items() if k != "generator"}
    assert {k: v for k, v in same.items() if k != "generator"} == {k: v for k, v in g.items() if k != "generator"}
    assert a9["fid"] != g["fid"]
    train = mnist.load_mnist("train", data_dir=data)[0][:150]
    test = mnist.load_mnist("test", data_dir=data)[0][:10000]
    want = score.score_row("real train", train.reshape(150, -1), clf.features(test), clf)
    assert real == want
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run_dir / f"metrics_it{run.trainer.iteration}.md").read_text().count("\n| ") == 6


def test_chapter_table_scores_autoencoders_beside_a_gan(world, small_settings, tmp_path):
    """benchmarks/chapter_table.py: each autoencoder checkpoint's samples come from its own prior and
    are scored like a GAN's, with its test-set numbers beside (a VAE's ELBO = -(reconstruction + KL));
    a GAN checkpoint is a row too; the figures are written."""
    import importlib.util
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    spec = importlib.util.spec_from_file_location("chapter_table", bench / "chapter_table.py")
    chapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chapter)
    data, cache, _, _, plain = world
    ckpts = {}
    for preset in ("vae", "dae"):
        out = tmp_path / preset
        assert cli.train_main([preset, "--data-dir", data, "--iterations", "3", "--m", "20", "--out", str(out),
                               "--no-progress", "--no-figures", "--set", "code_dim=2", "--set", "hidden=8"]) == 0
        ckpts[preset] = out / "checkpoint.npz"
    figures = {k: tmp_path / f"{k}.png" for k in ("figure", "walk", "reconstructions")}
    assert chapter.main(["--models", f"vae={ckpts['vae']}", f"dae={ckpts['dae']}", f"gan={plain}",
                         "--data-dir", data, "--n-samples", "120", "--classifier-cache", str(cache),
                         "--out", str(tmp_path / "table"), *[a for k, p in figures.items()
                                                             for a in (f"--{k}", str(p))]]) == 0
    result = json.loads((tmp_path / "table" / "chapter_table.json").read_text())
    assert [r["generator"] for r in result["rows"]] == ["vae", "dae", "gan", "real train"]
    vae, dae, gan, _ = result["rows"]
    assert vae["test"]["elbo"] == pytest.approx(-(vae["test"]["reconstruction"] + vae["test"]["kl"]))
    assert "denoised_squared_error" in dae["test"] and "test" not in gan
    assert all(r["n"] == 120 and np.isfinite(r["fid"]) for r in result["rows"])
    assert "| vae |" in (tmp_path / "table" / "chapter_table.md").read_text()
    for path in figures.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
