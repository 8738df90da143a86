"""benchmarks/table1_parzen.py: a long run stops cleanly when asked."""
import importlib.util
import os
import signal

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("table1_parzen", os.path.join(REPO, "benchmarks", "table1_parzen.py"))
table1 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_asks_for_a_stop_at_the_epoch_end(sig):
    before = {s: signal.getsignal(s) for s in table1.StopWhen.SIGNALS}
    with table1.StopWhen() as stop:
        assert stop.why() is None
        os.kill(os.getpid(), sig)                   # handled: no exception, the loop goes on to its epoch end
        assert stop.why() == signal.Signals(sig).name
        with pytest.raises(KeyboardInterrupt, match="second signal"):
            os.kill(os.getpid(), sig)
    assert {s: signal.getsignal(s) for s in table1.StopWhen.SIGNALS} == before, "handlers not restored"


def test_a_time_limit_asks_for_a_stop():
    with table1.StopWhen(minutes=0) as stop:
        assert stop.why() == "--stop-after 0"
    with table1.StopWhen(minutes=60) as stop:
        assert stop.why() is None
    with pytest.raises(ValueError, match="minutes, >= 0"):
        table1.StopWhen(minutes=-1)


def test_a_negative_limit_is_refused_before_anything_is_read(capsys):
    with pytest.raises(SystemExit) as info:
        table1.main(["--data-dir", "/nonexistent", "--stop-after", "-2"])
    assert info.value.code == 2 and "--stop-after -2.0: minutes, >= 0" in capsys.readouterr().err


def test_averages_resume_with_their_checkpoint(tmp_path):
    """--average: the averages are saved beside last.npz for the same iteration and come back
    exactly; a file of another iteration, or one without a decay asked for, is refused."""
    from minigan import presets
    from minigan.optim import ParameterAverage
    run = presets.build("toy1d", iterations=20)
    averages = {"average 0.9": ParameterAverage(run.trainer.G, 0.9), "average 0.5": ParameterAverage(run.trainer.G, 0.5)}
    run.trainer.train(20, callback=lambda gan, row: [a.update() for a in averages.values()])
    path = tmp_path / "averages.npz"
    table1.save_averages(path, averages, run.trainer.iteration)

    def error(msg):
        raise SystemExit(msg)
    again = {k: ParameterAverage(run.trainer.G, a.decay) for k, a in averages.items()}
    table1.load_averages(path, again, 20, error)
    for k, a in averages.items():
        assert again[k].t == 20
        assert all(np.array_equal(again[k].average[n], a.average[n]) for n in a.average)
    with pytest.raises(SystemExit, match="holds iteration 20, last.npz 25"):
        table1.load_averages(path, again, 25, error)
    with pytest.raises(SystemExit, match=r"no 'average 0.99' \(it has \['average 0.5', 'average 0.9'\]\)"):
        table1.load_averages(path, {"average 0.99": ParameterAverage(run.trainer.G, 0.99)}, 20, error)
    with pytest.raises(SystemExit, match="is missing, so the run cannot resume its averages"):
        table1.load_averages(tmp_path / "none.npz", again, 20, error)


@pytest.mark.parametrize("argv, message", [(["--average", "1"], "--average 1.0: a decay in [0, 1)"),
                                           (["--average", "0.9", "--average", "0.9"], "each decay once")])
def test_bad_averages_are_refused_before_anything_is_read(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        table1.main(["--data-dir", "/nonexistent"] + argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_results_md_shows_how_grey_and_smooth_each_evaluation_was(tmp_path):
    """Rows written before the image statistics existed keep their place, with empty cells."""
    header = {"name": "t", "command": "c", "machine": "m", "started": "s", "options": {}}
    base = {"iteration": 500, "wall_s": 60.0, "n_samples": 10000, "sigma": 0.1668, "ll": 200.0, "se": 2.0}
    rows = [{**base, "epoch": 1},
            {**base, "epoch": 2, "G": "average 0.999", "images": {"grey": 0.1034, "tv": 99.81}}]
    ceiling = {"ll": 241.2, "se": 2.1, "sigma": 0.1668, "images": {"grey": 0.103, "tv": 100.6}}
    table1.write_md(tmp_path, header, rows, ceiling)
    text = (tmp_path / "results.md").read_text()
    assert "| 1 | 500 | trained | 1.0 | 10000 | 0.1668 | 200.0 | 2.0 |  | |" in text
    assert "| 2 | 500 | average 0.999 | 1.0 | 10000 | 0.1668 | 200.0 | 2.0 | 0.103 | 99.8 |" in text
    assert "241.2 +- 2.1 (sigma 0.1668); grey 0.103, TV 100.6" in text
