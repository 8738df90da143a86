"""A one-line progress bar with rate and ETA, on stderr.

    bar = Progress(3000, desc="toy1d")
    for i in range(3000):
        ...
        bar.update(V=row["V"])
    bar.close()

prints (redrawn in place, at most ten times a second)::

    toy1d [#########-----------]  1350/3000  45%  612 it/s  ETA 0:03  V=-1.386

Off a terminal (a log file, a pipe, CI, ``!minigan train`` in a notebook) there is no bar to
redraw: it prints a plain line now and then instead, at every tenth of the run and at least
once a minute, so that a log says where a long run is without filling with carriage returns::

    toy1d: 1350/3000 iterations (45%), 2.2 s elapsed, about 0:03 left  V=-1.386

``enabled=False`` (``--no-progress``) turns both off.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_time"]


def format_time(seconds):
    """``H:MM:SS`` or ``M:SS``; ``?`` while unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Progress over ``total`` steps; ``update()`` after each, ``close()`` at the end.

    enabled : None (default) = the bar on a terminal, plain lines elsewhere; True = the bar;
        False = nothing.
    stream : where to draw (default ``sys.stderr``).
    width : characters in the bar itself.
    min_interval : seconds between redraws of the bar.
    lines, line_interval : off a terminal, a line at each of ``lines`` evenly spaced points and
        whenever ``line_interval`` seconds have passed since the last one.
    unit : what is counted, in the plain lines ("iterations").
    clock : the time function (tests pass a fake one).
    """

    def __init__(self, total, desc="", *, enabled=None, stream=None, width=20,
                 min_interval=0.1, lines=10, line_interval=60.0, unit="iterations", clock=time.monotonic):
        self.total = max(int(total), 0)
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        self.as_lines = False               # plain lines now and then, not a bar redrawn in place
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            self.as_lines = not (isatty and isatty())
            enabled = True
        self.enabled = bool(enabled)
        self.marks = sorted({-(-self.total * i // int(lines)) for i in range(1, int(lines) + 1)} - {0})
        self.line_interval, self.unit = float(line_interval), unit
        self.width, self.min_interval, self.clock = int(width), float(min_interval), clock
        self.n = 0
        self.start = self.clock()
        self._last_draw = None
        self._postfix = ""
        self._closed = False

    # rate and ETA ------------------------------------------------------------
    @property
    def elapsed(self):
        return self.clock() - self.start

    @property
    def rate(self):
        """Steps per second so far (None before the first step)."""
        dt = self.elapsed
        return self.n / dt if self.n and dt > 0 else None

    @property
    def eta(self):
        """Seconds left at the current rate (None while unknown)."""
        r = self.rate
        return (self.total - self.n) / r if r else None

    def render(self):
        """The current line (without the leading carriage return)."""
        frac = min(self.n / self.total, 1.0) if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        digits = len(str(self.total))
        rate = self.rate
        rate_s = "? it/s" if rate is None else (f"{rate:.0f} it/s" if rate >= 10 else f"{rate:.2f} it/s")
        head = f"{self.desc} " if self.desc else ""
        tail = f"  {self._postfix}" if self._postfix else ""
        return (f"{head}[{bar}] {self.n:>{digits}}/{self.total} {100 * frac:3.0f}%  {rate_s}  "
                f"ETA {format_time(self.eta)}{tail}")

    # drawing ---------------------------------------------------------------
    def update(self, n=1, **postfix):
        """Count ``n`` more steps; ``postfix`` values (e.g. V=-1.38) are shown after the bar."""
        self.n += int(n)
        if not self.enabled:
            return
        if postfix:
            self._postfix = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in postfix.items())
        now = self.clock()
        if self.as_lines:
            passed = [m for m in self.marks if m <= self.n]
            if passed:
                self.marks = self.marks[len(passed):]
            if passed or now - (self.start if self._last_draw is None else self._last_draw) >= self.line_interval:
                self._line()
                self._last_draw = now
            return
        if self._last_draw is None or now - self._last_draw >= self.min_interval or self.n >= self.total:
            self._draw()
            self._last_draw = now

    def line(self):
        """The plain line printed off a terminal."""
        elapsed = self.elapsed
        text = (f"{self.desc + ': ' if self.desc else ''}{self.n}/{self.total} {self.unit} "
                f"({100 * self.n / max(self.total, 1):.0f}%), {elapsed:.1f} s elapsed")
        if 0 < self.n < self.total:
            text += f", about {format_time(elapsed * (self.total - self.n) / self.n)} left"
        return text + (f"  {self._postfix}" if self._postfix else "")

    def _line(self):
        self.stream.write(self.line() + "\n")
        self.stream.flush()

    def _draw(self):
        self.stream.write("\r" + self.render() + "\x1b[K")   # \x1b[K clears what a longer line left
        self.stream.flush()

    def close(self):
        """Draw the final state and end the line (only when enabled; off a terminal the last
        line was printed when the count reached its last mark)."""
        if self.enabled and not self._closed and not self.as_lines:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
