"""What a gradient check reports: one row per checked quantity, a result per check, the tables."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GradcheckRow", "GradcheckResult", "format_results", "nothing_checked",
           "DEFAULT_EPS", "DEFAULT_TOL"]

DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6


@dataclass
class GradcheckRow:
    """One checked quantity: the input or one parameter.

    ``rel_error`` is the relative error defined in ``minigan.gradcheck``'s
    docstring, ``abs_error`` = max |a - n|. For a non-gradient assertion (e.g.
    "D's grads stayed zero") ``rel_error`` holds the measured value and ``kind`` says so.
    """
    name: str
    shape: tuple
    rel_error: float
    abs_error: float
    passed: bool
    kinks_moved: int = 0
    kinks_skipped: int = 0
    kind: str = "gradient"


@dataclass
class GradcheckResult:
    """Rows of one check, with its settings and anything worth knowing."""
    title: str
    rows: list = field(default_factory=list)
    eps: float = DEFAULT_EPS
    tol: float = DEFAULT_TOL
    kinks_moved: int = 0      # input rows re-drawn away from a kink
    kinks_skipped: int = 0    # input rows dropped because no kink-free re-draw was found
    notes: list = field(default_factory=list)
    failed_notes: list = field(default_factory=list)   # problems that fail the check

    @property
    def passed(self) -> bool:
        return bool(self.rows) and not self.failed_notes and all(r.passed for r in self.rows)

    @property
    def max_rel_error(self) -> float:
        errs = [r.rel_error for r in self.rows if r.kind == "gradient"]
        return max(errs) if errs else float("nan")

    def table(self) -> str:
        return format_results([self])

    def __str__(self):
        return self.table()


def format_results(results) -> str:
    """Readable tables, one per result, then a summary line."""
    if isinstance(results, GradcheckResult):
        results = [results]
    out = []
    for res in results:
        status = "PASS" if res.passed else "FAIL"
        out.append(f"{status}  {res.title}")
        out.append(f"      eps {res.eps:g}, tol {res.tol:g}, float64; kink rows moved "
                   f"{res.kinks_moved}, skipped {res.kinks_skipped}")
        w = max([9] + [len(r.name) for r in res.rows])
        out.append(f"      {'quantity':<{w}}  {'shape':<12} {'rel. error':>10}  "
                   f"{'max |a-n|':>10}  {'kinks mv/sk':>11}  ok")
        for r in res.rows:
            if r.kind == "gradient":
                rel, ab = f"{r.rel_error:10.2e}", f"{r.abs_error:10.2e}"
            else:
                rel, ab = f"{r.rel_error:10.2e}", f"{r.kind:>10}"
            kinks = f"{r.kinks_moved}/{r.kinks_skipped}"
            out.append(f"      {r.name:<{w}}  {str(tuple(r.shape)):<12} {rel}  {ab}  "
                       f"{kinks:>11}  {'yes' if r.passed else 'NO'}")
        for note in res.failed_notes:
            out.append(f"      ERROR: {note}")
        for note in res.notes:
            out.append(f"      note: {note}")
        out.append("")
    n_fail = sum(not r.passed for r in results)
    out.append(f"{len(results)} checks, {len(results) - n_fail} passed, {n_fail} failed")
    return "\n".join(out)


def nothing_checked(title, eps, tol, moved, skipped, why) -> GradcheckResult:
    """A failed result with no rows: ``why`` says what left nothing to check."""
    res = GradcheckResult(title, eps=eps, tol=tol, kinks_moved=moved, kinks_skipped=skipped)
    res.failed_notes.append(why)
    return res
