"""benchmarks/table1_trend.py: the fits recover the curves they are named for."""
import importlib.util
import json
import math
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("table1_trend", os.path.join(REPO, "benchmarks", "table1_trend.py"))
trend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trend)


def test_tau_is_the_preset_decay_in_epochs():
    # lr after tau epochs of 500 minibatches, each dividing by 1.000004, is lr / e
    assert 1.000004 ** (500 * trend.TAU) == pytest.approx(math.e, rel=1e-12)


def test_lr_limited_fit_recovers_asymptote_and_crossing():
    e = np.arange(250, 751, 10, dtype=float)
    ll = 224.0 - 70.0 * np.exp(-e / trend.TAU)
    fits = trend.fit(e, ll, target=220.0, at=[1000])
    coef, rss, reach, asymptote, preds = fits["lr-limited"]
    assert asymptote == pytest.approx(224.0) and rss < 1e-12
    assert 224.0 - 70.0 * math.exp(-reach / trend.TAU) == pytest.approx(220.0)
    assert preds[1000] == pytest.approx(224.0 - 70.0 * math.exp(-1000 / trend.TAU))
    # the same curve never reaches a target above its asymptote
    assert trend.fit(e, ll, target=225.0, at=[])["lr-limited"][2] is None
    # and the other models fit it worse
    assert fits["linear"][1] > 1e-6 and fits["log"][1] > 1e-6


def test_linear_and_log_fits(tmp_path, capsys):
    e = np.arange(300, 701, 20, dtype=float)
    lin = trend.fit(e, 150.0 + 0.05 * e, target=225.0, at=[])["linear"]
    assert lin[2] == pytest.approx(1500.0)
    log = trend.fit(e, 60.0 + 22.0 * np.log(e), target=225.0, at=[])["log"]
    assert log[2] == pytest.approx(math.exp(165.0 / 22.0))
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps({"epoch": int(x), "ll": 150.0 + 0.05 * x, "se": 2.0}) + "\n" for x in e))
    assert trend.main([str(path), "--from-epoch", "300", "--at", "1000"]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "reaches 225 at epoch 1500" in out and "1000: 200.0" in out


def test_the_trained_g_and_each_average_are_fitted_apart(tmp_path, capsys):
    """table1_parzen.py --average writes an average's rows beside the trained G's: a fit
    takes one generator's rows, the trained G's by default (old rows have no "G")."""
    e = np.arange(300, 701, 20, dtype=float)
    path = tmp_path / "results.jsonl"
    with open(path, "w") as f:
        for x in e:
            f.write(json.dumps({"epoch": int(x), "ll": 150.0 + 0.05 * x, "se": 2.0}) + "\n")
            f.write(json.dumps({"epoch": int(x), "G": "average 0.999", "ll": 175.0 + 0.05 * x}) + "\n")
    assert np.array_equal(trend.load(path)[1], 150.0 + 0.05 * e)
    assert np.array_equal(trend.load(path, "average 0.999")[1], 175.0 + 0.05 * e)
    assert trend.main([str(path), "--at", "1000"]) == 0
    assert "reaches 225 at epoch 1500" in capsys.readouterr().out
    assert trend.main([str(path), "--which", "average 0.999", "--at", "1000"]) == 0
    assert "reaches 225 at epoch 1000" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no evaluations of the average 0.9 G"):
        trend.load(path, "average 0.9")
