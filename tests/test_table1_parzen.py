"""benchmarks/table1_parzen.py: a long run stops cleanly when asked."""
import importlib.util
import os
import signal

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
