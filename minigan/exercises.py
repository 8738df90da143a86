"""``python -m minigan check-exercise NAME [FILE]``: check a student's backward pass.

The exercises live in ``lessons/exercises/NAME.py`` (sigmoid, relu, linear,
maxout, dropout, bce, batchnorm, and the VAE's reparameterisation and gaussian_kl):
each has the forward pass written and the backward pass left as TODO. This command
loads the student's class from FILE (default: the exercise file itself) and checks
its backward pass twice:

* against **central finite differences** of the student's own forward
  (``minigan.gradcheck.check_layer``, or ``check_function`` for the losses and the
  reparameterisation, whose eps is the same in every forward: float64, a random upstream
  gradient dL/dy = R, relative error max|a - n| / max(|a| + |n|));
* against the **reference solution**, the library's own layer or function
  (``minigan.layers.Linear`` and friends, ``minigan.losses.bce_with_logits``,
  ``minigan.layers.BatchNorm`` in training mode, ``minigan.layers.reparameterise_backward``,
  ``minigan.losses.gaussian_kl``)
  given the same parameters, the same input and the same upstream gradient.

For layers with parameters it also checks that dL/dtheta is *added* into
``grads`` (two forwards, then two backwards in reverse order, must give the
sum of both gradients -- what D's real + fake objective needs).

The inputs are drawn away from kinks (ReLU at 0, ties between maxout pieces)
and a Dropout mask is frozen, so that a finite difference measures a true
derivative. Every part -- the input gradient and each parameter -- gets its
own line, and the verdict names the part that is wrong. Where the checker can
tell what went wrong it says so ("what is wrong: ..."): for maxout, dL/dy sent
to every piece, or dL/dz in the (m, pieces, units) layout, are recognised by
computing those answers; otherwise the dL/dz behind the student's dL/dW is
recovered (dL/dW = x^T dL/dz) and read at the pieces that lost the max. A
gradient that is the right one times a constant is named with its factor (a missing
1/2 or 1/N, an unused grad_out, a flipped sign).

Exit status: 0 PASS; 1 FAIL (including a backward that is not implemented
yet, or a file that does not import); 2 bad usage (unknown exercise name,
missing file, no such class in the file).
"""
from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import backend, gradcheck, layers, losses

__all__ = ["EXERCISES", "Exercise", "check", "exercise_dir", "main"]

TOL = 1e-6


@dataclass
class Exercise:
    """One exercise: the class the student writes and how to test it."""
    name: str
    cls: str                 # class name in the student's file
    reference: str           # what the reference solution is, for the table header
    summary: str
    hints: dict = field(default_factory=dict)   # part -> the formula to look at


EXERCISES = {e.name: e for e in [
    Exercise("sigmoid", "Sigmoid", "minigan.layers.Sigmoid",
             "y = 1/(1 + e^-x); write dL/dx",
             {"dL/dx": "dL/dx = dL/dy * y * (1 - y), with y = sigma(x) from the cache"}),
    Exercise("relu", "ReLU", "minigan.layers.ReLU",
             "y = max(0, x); write dL/dx",
             {"dL/dx": "dL/dx = dL/dy * 1[x > 0]: pass the gradient where the unit was active"}),
    Exercise("linear", "Linear", "minigan.layers.Linear",
             "y = x W + b; write dL/dx, dL/dW, dL/db",
             {"dL/dx": "dL/dx = dL/dy W^T, shape (m, n_in)",
              "dL/dW": "dL/dW = x^T dL/dy, shape (n_in, n_out)",
              "dL/db": "dL/db = dL/dy summed over the batch (axis 0), shape (n_out,)",
              "accumulate": "add into self.grads[...] with +=, do not assign with ="}),
    Exercise("maxout", "Maxout", "minigan.layers.Maxout",
             "y_u = max_p (x W + b)_{u,p}; write dL/dx, dL/dW, dL/db",
             {"dL/dx": "dL/dz is dL/dy_u at the winning piece of unit u and 0 elsewhere; "
                       "dL/dx = dL/dz W^T (dL/dz reshaped to (m, units * pieces))",
              "dL/dW": "dL/dW = x^T dL/dz, with dL/dz nonzero only at the winning pieces",
              "dL/db": "dL/db = dL/dz summed over the batch",
              "accumulate": "add into self.grads[...] with +=, do not assign with ="}),
    Exercise("dropout", "Dropout", "minigan.layers.Dropout",
             "y = x * mask * scale; write dL/dx",
             {"dL/dx": "dL/dx = dL/dy * mask * scale with the mask of the forward pass "
                       "(the cache holds mask * scale); never draw a new mask in backward"}),
    Exercise("bce", "BCEWithLogits", "minigan.losses.bce_with_logits",
             "CE = mean -[t log sigma(a) + (1-t) log(1 - sigma(a))]; write dCE/da",
             {"dCE/dlogits": "differentiate t s(-a) + (1 - t) s(a) using ds(a)/da = sigma(a) and "
                             "sigma(-a) = 1 - sigma(a); keep the 1/m of the mean, and multiply by grad_out"}),
    Exercise("batchnorm", "BatchNorm", "minigan.layers.BatchNorm",
             "y = gamma (x - mu)/sigma + beta with the batch's mu, sigma; write dL/dx, dL/dgamma, dL/dbeta",
             {"dL/dx": "dL/dx = (gamma / sigma) (g - mean(g) - xhat * mean(g * xhat)), g = dL/dy, means over "
                       "the batch (axis 0): mu and sigma depend on every row, so every row's gradient "
                       "has a term through mu and one through sigma",
              "dL/dgamma": "dL/dgamma = sum over the batch of dL/dy * xhat, shape (n,)",
              "dL/dbeta": "dL/dbeta = sum over the batch of dL/dy, shape (n,)",
              "accumulate": "add into self.grads[...] with +=, do not assign with ="}),
    Exercise("reparameterisation", "Reparameterise", "minigan.layers.reparameterise_backward",
             "z = mu + exp(logvar/2) * eps with eps given; write dL/dmu, dL/dlogvar",
             {"dL/dmu": "z = mu + sigma * eps moves one for one with mu: dL/dmu = dL/dz (grad_z)",
              "dL/dlogvar": "chain rule through sigma = exp(logvar / 2), whose derivative is sigma / 2: "
                            "dL/dlogvar = dL/dz * eps * sigma / 2, with eps and sigma from the cache"}),
    Exercise("gaussian_kl", "GaussianKL", "minigan.losses.gaussian_kl",
             "KL = mean over rows of -1/2 sum(1 + logvar - mu^2 - exp(logvar)); write dKL/dmu, dKL/dlogvar",
             {"dKL/dmu": "dKL/dmu = mu / N: -1/2 times -2 mu, and the 1/N of the mean over the N rows; "
                         "times grad_out",
              "dKL/dlogvar": "dKL/dlogvar = (exp(logvar) - 1) / (2 N): -1/2 times (1 - exp(logvar)), and the "
                             "1/N of the mean; times grad_out",
              "grad_out": "return grad_out * dKL/dmu and grad_out * dKL/dlogvar: grad_out is dL/dKL"}),
]}


def exercise_dir() -> Path | None:
    """The folder holding the exercise files: ``lessons/exercises`` beside the
    installed package (a source checkout), else under the current folder."""
    for base in (Path(__file__).resolve().parent.parent, Path.cwd()):
        d = base / "lessons" / "exercises"
        if d.is_dir():
            return d
    return None


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


class NotImplementedYet(Exception):
    """The student's backward still raises NotImplementedError."""


def _load_class(path: Path, exercise: Exercise):
    """Import ``path`` as a fresh module and return its exercise class.

    A file that fails to import is the student's code failing (FAIL, not a
    usage error), so the exception is passed on to the caller.
    """
    spec = importlib.util.spec_from_file_location(f"_minigan_exercise_{exercise.name}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, exercise.cls, None)
    if cls is None:
        raise UsageError(f"{path} defines no class {exercise.cls!r} (is it the {exercise.name} "
                         f"exercise file?)")
    return cls


# ---------------------------------------------------------------------------- one row per part
@dataclass
class Part:
    """One checked quantity: its errors against finite differences and the reference."""
    name: str
    label: str
    shape: object
    fd_error: float | None
    ref_error: float | None
    tol: float
    note: str = ""

    @property
    def passed(self):
        errs = [e for e in (self.fd_error, self.ref_error) if e is not None]
        return all(np.isfinite(e) and e < self.tol for e in errs)


@dataclass
class Report:
    exercise: Exercise
    path: Path
    header: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    status: str = "PASS"          # PASS, FAIL, NOT IMPLEMENTED
    problems: list = field(default_factory=list)
    diagnoses: list = field(default_factory=list)   # what is wrong, where the checker can tell

    @property
    def wrong(self):
        return [p for p in self.parts if not p.passed]

    def finish(self):
        if self.status == "PASS" and (self.wrong or self.problems):
            self.status = "FAIL"
        return self

    @property
    def exit_code(self):
        return 0 if self.status == "PASS" else 1

    def text(self):
        ex = self.exercise
        out = [f"check-exercise {ex.name}: class {ex.cls} from {self.path}", *self.header]
        if self.parts:
            w = max(len(p.label) for p in self.parts)
            out.append("")
            out.append(f"  {'part':<{w}}  {'shape':<10} {'vs finite diff.':>15}  "
                       f"{'vs ' + ex.reference:>{max(20, len(ex.reference) + 3)}}  ok")
            for p in self.parts:
                fd = "-" if p.fd_error is None else f"{p.fd_error:.2e}"
                ref = "-" if p.ref_error is None else f"{p.ref_error:.2e}"
                out.append(f"  {p.label:<{w}}  {str(p.shape):<10} {fd:>15}  "
                           f"{ref:>{max(20, len(ex.reference) + 3)}}  {'yes' if p.passed else 'NO'}"
                           + (f"   {p.note}" if p.note else ""))
            out.append(f"  (relative errors, max|a-b| / max(|a|+|b|); a part passes below {self.parts[0].tol:g})")
            if any(p.name == "accumulate" for p in self.parts):
                out.append("  (grads accumulate: two forwards then two backwards, against the sum of two "
                           "single passes of your own backward)")
        out.append("")
        for msg in self.problems:
            out.append(f"  problem: {msg}")
        if self.status == "PASS":
            out.append(f"verdict: PASS -- every part of {ex.cls}.backward agrees with finite "
                       f"differences and with {ex.reference}")
        elif self.status == "NOT IMPLEMENTED":
            out.append(f"verdict: NOT IMPLEMENTED -- {ex.cls}.backward still raises "
                       f"NotImplementedError; fill in the TODO lines in {self.path}")
        else:
            names = [p.label for p in self.wrong]
            out.append("verdict: FAIL -- wrong: " + (", ".join(names) if names else "see the problems above"))
            for msg in self.diagnoses:
                out.append(f"  what is wrong: {msg}")
            for key in dict.fromkeys(p.name for p in self.wrong):
                if key in ex.hints:
                    out.append(f"  hint for {key}: {ex.hints[key]}")
        return "\n".join(out)


# ---------------------------------------------------------------------------- inputs
def _set_params(student, values):
    for k, v in values.items():
        if k not in student.params:
            raise UsageError(f"the student's layer has no parameter {k!r} (params: {list(student.params)})")
        student.params[k][...] = v


def _away_from_ties(x, W, b, units, pieces, rng, gap=1e-3):
    """Re-draw rows of x whose top two maxout pieces are closer than ``gap``."""
    for _ in range(100):
        z = np.sort((x @ W + b).reshape(len(x), units, pieces), axis=2)
        bad = (z[:, :, -1] - z[:, :, -2]).min(axis=1) < gap
        if not bad.any():
            return x
        x[bad] = rng.standard_normal((int(bad.sum()), x.shape[1]))
    raise RuntimeError("could not draw maxout inputs away from ties")  # pragma: no cover


def _setup(name, cls, rng):
    """Build (student, reference, x, extra) for a layer exercise, float64, same parameters."""
    f64 = np.float64
    if name == "sigmoid":
        return cls(), layers.Sigmoid(), rng.standard_normal((4, 5)) * 2.0, {}
    if name == "relu":
        x = rng.standard_normal((4, 5))
        x = np.sign(x) * (0.1 + np.abs(x))          # at least 0.1 away from the kink at 0
        return cls(), layers.ReLU(), x, {}
    if name == "linear":
        student = cls(5, 3, rng=rng.integers(1 << 30))
        ref = layers.Linear(5, 3, rng=0, dtype=f64)
        values = {"W": rng.standard_normal((5, 3)), "b": rng.standard_normal(3)}
        return student, ref, rng.standard_normal((4, 5)), {"values": values}
    if name == "maxout":
        units, pieces = 3, 4
        student = cls(5, units, pieces, rng=rng.integers(1 << 30))
        ref = layers.Maxout(5, units, pieces, rng=0, dtype=f64)
        values = {"W": rng.standard_normal((5, units * pieces)), "b": rng.standard_normal(units * pieces)}
        x = _away_from_ties(rng.standard_normal((4, 5)), values["W"], values["b"], units, pieces, rng)
        return student, ref, x, {"values": values}
    if name == "dropout":
        keep = 0.6
        student = cls(keep, rng=rng.integers(1 << 30))
        ref = layers.Dropout(keep)
        x = rng.standard_normal((6, 5))
        mask = rng.random(x.shape) < keep
        mask[0, 0], mask[0, 1] = True, False        # both kinds of unit, whatever the draw
        return student, ref, x, {"mask": mask, "keep": keep}
    if name == "batchnorm":
        n = 5
        student = cls(n)
        ref = layers.BatchNorm(n, dtype=f64)
        values = {"gamma": rng.normal(1.0, 0.5, n), "beta": rng.normal(0.0, 0.5, n)}
        x = rng.normal(1.0, 2.0, (6, n)) * rng.uniform(0.2, 3.0, n)      # features of different scales
        return student, ref, x, {"values": values}
    raise KeyError(name)


def _against_reference(got, want):
    """(relative error, note) of a student's gradient against the library's."""
    if got is None:
        return float("inf"), "backward gave nothing (missing return?)"
    if got.shape != want.shape:
        return float("inf"), f"shape {got.shape}, expected {want.shape}"
    return gradcheck.relative_error(got, want)[0], ""


def _copy(a):
    return None if a is None else np.array(a, dtype=np.float64, copy=True)


# ---------------------------------------------------------------------------- maxout: what went wrong
def _maxout_parts(x, W, grad_z):
    """The three gradients a maxout backward gives from dL/dz, shape (m, units * pieces)."""
    return {"dL/dx": grad_z @ W.T, "dL/dW": x.T @ grad_z, "dL/db": grad_z.sum(axis=0)}


def _maxout_diagnoses(x, W, b, units, pieces, R, got, tol):
    """Sentences that say what a wrong maxout backward did, from the gradients it gave.

    Two known mistakes are recognised by computing their answers and comparing: dL/dy_u sent to
    every piece of unit u (not only the winner), and dL/dz laid out as (m, pieces, units) where
    the forward's z is (m, units, pieces) (the right values in the transposed columns). Past
    those, the dL/dz a student used is recovered from dL/dW = x^T dL/dz (x has full row rank
    here, so dL/dz is the least-squares solution, exact when dL/dW has that form) and read at
    the pieces that lost the max and at the winners."""
    m = len(x)
    z = (x @ W + b).reshape(m, units, pieces)
    winner = z.argmax(axis=2)
    right = np.zeros((m, units, pieces))
    np.put_along_axis(right, winner[..., None], R[..., None], axis=2)
    candidates = [
        ("every piece",
         np.repeat(R[..., None], pieces, axis=2).reshape(m, -1),
         "nonzero gradient at pieces that did not win the max: dL/dy_u went to every piece of unit u; "
         "only the winning piece (the argmax the forward kept) gets dL/dy_u, the others 0",
         "dL/dy_u sent to every piece gives exactly your"),
        ("transposed layout",
         right.transpose(0, 2, 1).reshape(m, -1),
         f"dL/dz is in the wrong layout: its values are right, but in the columns of an (m, pieces, units) "
         f"array reshaped to (m, {units * pieces}); the forward's z is (m, units, pieces), unit u's pieces "
         f"being the consecutive columns u*pieces .. u*pieces + pieces - 1, so build grad_z as "
         f"(m, units, pieces) and reshape that",
         "compared against the transposed layout: it gives exactly your"),
    ]
    found = []
    for _, grad_z, message, how in candidates:
        mistaken = _maxout_parts(x, W, grad_z)
        parts = [k for k, v in mistaken.items() if got.get(k) is not None and got[k].shape == v.shape
                 and gradcheck.relative_error(got[k], v)[0] < tol]
        if parts:
            found.append(f"{message} ({how} {', '.join(parts)})")
    if found:
        return found
    dW = got.get("dL/dW")
    if dW is None or dW.shape != W.shape:
        return []
    grad_z, *_ = np.linalg.lstsq(x.T, dW, rcond=None)                  # x^T grad_z = dW
    if gradcheck.relative_error(x.T @ grad_z, dW)[0] >= tol:           # dW is not x^T (anything)
        return ["your dL/dW is not x^T dL/dz for any dL/dz: dL/dW = x^T dL/dz, shape (n_in, units * pieces)"]
    grad_z = grad_z.reshape(m, units, pieces)
    lost = np.ones_like(grad_z, dtype=bool)
    np.put_along_axis(lost, winner[..., None], False, axis=2)
    scale = max(float(np.abs(grad_z).max()), float(np.abs(R).max()))
    nonzero = np.abs(grad_z) > 1e3 * tol * scale
    if (nonzero & lost).any():
        return [f"nonzero gradient at pieces that did not win the max: the dL/dz behind your dL/dW "
                f"(x^T dL/dz) is nonzero at {int((nonzero & lost).sum())} of the {int(lost.sum())} pieces "
                "that lost; only the winning piece of each unit gets dL/dy_u"]
    at_winners = np.take_along_axis(grad_z, winner[..., None], axis=2)[..., 0]
    if gradcheck.relative_error(at_winners, R)[0] >= tol:
        return ["the gradient reaches only the winning pieces, as it should, but not with the value dL/dy_u: "
                "at the winner of unit u, dL/dz = dL/dy_u (grad_out[:, u])"]
    return []


# ---------------------------------------------------------------------------- the checks
def _check_layer(ex, cls, report, rng, eps, tol):
    student, ref, x, extra = _setup(ex.name, cls, rng)
    if not hasattr(student, "params") or not hasattr(student, "grads"):
        raise UsageError(f"{ex.cls} needs params and grads dicts (subclass minigan.layers.Layer)")
    if "values" in extra:
        _set_params(student, extra["values"])
        for k, v in extra["values"].items():
            ref.params[k][...] = v
    if "mask" in extra:
        student.fixed_mask = extra["mask"]
        ref.fixed_mask = extra["mask"]
        if getattr(student, "scale", None) != ref.scale:
            report.problems.append(f"the student's Dropout scale is {getattr(student, 'scale', None)}, "
                                   f"expected 1/keep = {ref.scale} (the forward was given)")
    for k, p in student.params.items():
        if p.dtype != np.float64:
            raise UsageError(f"parameter {k!r} has dtype {p.dtype}; the checker needs float64")
    # the upstream gradient dL/dy = R: the random projection gradcheck.check_layer uses with this seed
    fd_seed = int(rng.integers(1 << 30))
    with layers.no_grad():
        y0 = ref.forward(x)
    R = np.array(gradcheck.random_projection(y0, fd_seed)(y0)[1], dtype=np.float64)
    ref.zero_grad()
    ref.forward(x)
    ref_dx = ref.backward(R.copy())
    ref_grads = {k: v.copy() for k, v in ref.grads.items()}

    report.header.append(f"  float64 (NumPy); input x {x.shape}; upstream gradient dL/dy random N(0, 1); "
                         f"finite-difference step {eps:g}")
    if ex.name == "relu":
        report.header.append("  inputs drawn at least 0.1 away from the kink at 0")
    if ex.name == "maxout":
        report.header.append("  inputs drawn with a clear winner in every unit (no ties between pieces)")
    if ex.name == "batchnorm":
        report.header.append("  training mode (the batch's mean and variance); every row depends on the whole "
                             "batch, so the finite differences perturb each entry and measure the loss over all rows")
    if ex.name == "dropout":
        report.header.append(f"  training mode, keep {extra['keep']}; the mask is frozen (fixed_mask) for the "
                             "finite differences; the last part draws live masks, as training does")

    # the given forward, against the reference forward
    if hasattr(student, "train"):
        student.train()
    with layers.no_grad():
        _given_forward(report, ex, student.forward(x.copy()), ref.forward(x), tol)

    # the student's backward, once, against the reference backward
    try:
        student.zero_grad()
        student.forward(x.copy())
        dx = student.backward(R.copy())
    except NotImplementedError as exc:
        raise NotImplementedYet(str(exc)) from exc
    got = {"dL/dx": _copy(dx), **{f"dL/d{k}": _copy(v) for k, v in student.grads.items()}}
    want = {"dL/dx": ref_dx, **{f"dL/d{k}": ref_grads[k] for k in ref_grads}}

    # the same backward against finite differences of the student's forward
    # (check_layer works on a float64 deep copy of the student's layer, which keeps the frozen mask)
    fd = gradcheck.check_layer(student, x.copy(), eps=eps, tol=tol, seed=fd_seed, title=ex.cls)
    fd_rows = {("dL/dx" if r.name == "x" else f"dL/d{r.name}"): r.rel_error for r in fd.rows}

    labels = {"dL/dx": "dL/dx (input gradient)"}
    labels.update({f"dL/d{k}": f"dL/d{k} (parameter {k!r})" for k in ref_grads})
    for key, label in labels.items():
        a, b = got.get(key), want[key]
        ref_err, note = _against_reference(a, b)
        if not note and not np.any(a) and np.any(b):
            note = "all zeros: was it written into grads?" if key != "dL/dx" else "all zeros"
        report.parts.append(Part(key, label, tuple(b.shape), fd_rows.get(key, float("inf")),
                                 ref_err, tol, note))
    for msg in fd.failed_notes:
        if "backward gave" not in msg:
            report.problems.append(msg)
    if ex.name == "maxout" and any(not p.passed for p in report.parts if p.name.startswith("dL/d")):
        report.diagnoses += _maxout_diagnoses(x, extra["values"]["W"], extra["values"]["b"], ref.units,
                                              ref.pieces, R, got, tol)

    # parameter gradients must accumulate: two forwards, two backwards (last in, first out)
    # must give the sum of the two single passes -- of the student's OWN gradients, so that
    # this row tests the += alone (a wrong formula is already caught by the rows above)
    if ref_grads:
        x2 = x + 0.01 * rng.standard_normal(x.shape)
        if ex.name == "maxout":
            x2 = _away_from_ties(x2, extra["values"]["W"], extra["values"]["b"], ref.units, ref.pieces, rng)
        R2 = rng.standard_normal(R.shape)
        single = {}
        for xi, Ri in ((x, R), (x2, R2)):
            student.zero_grad()
            student.forward(xi.copy())
            student.backward(Ri.copy())
            for k in ref_grads:
                single[k] = single.get(k, 0.0) + np.array(student.grads[k], dtype=np.float64)
        student.zero_grad()
        student.forward(x.copy())
        student.forward(x2.copy())
        student.backward(R2.copy())
        student.backward(R.copy())
        worst, worst_key = 0.0, None
        for k in ref_grads:
            e = gradcheck.relative_error(student.grads[k], single[k])[0]
            if e >= worst:
                worst, worst_key = e, k
        report.parts.append(Part("accumulate", "grads accumulate (+=)", ",".join(ref_grads), None, worst, tol,
                                 note="" if worst < tol else
                                 f"after two backwards grads[{worst_key!r}] is not the sum of both"))
    else:
        _check_two_passes(ex, student, ref, x, R, rng, report, tol)


def _check_two_passes(ex, student, ref, x, R, rng, report, tol):
    """A layer without parameters, used twice before its backwards (as D is, on the real
    and the fake batch): two forwards, then two backwards in reverse order, each of which
    must use its own forward's cache. Dropout draws live masks here (``fixed_mask`` unset,
    the two layers' generators seeded alike), as in training."""
    x2 = -x                                      # other units pass; as far from any kink as x
    R2 = rng.standard_normal(R.shape)
    if ex.name == "dropout":
        seed = int(rng.integers(1 << 30))
        student.fixed_mask = ref.fixed_mask = None
        student.rng, ref.rng = np.random.default_rng(seed), np.random.default_rng(seed)
    label = "two forwards, then two backwards (last in, first out)"
    if ex.name == "dropout":
        label += ", live masks"
    got = want = None
    try:
        ref_out = [ref.forward(x), ref.forward(x2)]
        want = [ref.backward(R2.copy()), ref.backward(R.copy())]
        out = [np.asarray(student.forward(x.copy())), np.asarray(student.forward(x2.copy()))]
        got = [_copy(student.backward(R2.copy())), _copy(student.backward(R.copy()))]
    except Exception as exc:                     # e.g. a backward that reads fixed_mask, None here
        report.parts.append(Part("two passes", label, x.shape, None, float("inf"), tol,
                                 note=f"the backward failed: {type(exc).__name__}: {exc}"))
        return
    fwd = max(gradcheck.relative_error(o, w)[0] for o, w in zip(out, ref_out))
    if fwd >= tol:
        report.problems.append("with a live mask the forward differs from the reference's (was the given "
                               "forward changed?)" if ex.name == "dropout" else
                               "the forward differs from the reference's on a second input")
    errs = [_against_reference(g, w) for g, w in zip(got, want)]
    worst = max(e for e, _ in errs)
    note = next((n for _, n in errs if n), "")
    if not note and worst >= tol:
        note = ("a backward did not use its own forward's cache (kept on self instead of the cache "
                "stack?)" + (" or used fixed_mask instead of the mask kept from forward" if ex.name == "dropout"
                             else ""))
    report.parts.append(Part("two passes", label, x.shape, None, worst, tol, note=note))


def _given_forward(report, ex, got, want, tol):
    """The given forward's output against the reference's, as the "forward (given)" part of the
    report; an array of the wrong shape stops the check (the forward was changed)."""
    got = np.asarray(got, dtype=np.float64)
    if np.ndim(want) > 0 and got.shape != np.shape(want):
        raise _Broken(f"{ex.cls}.forward returned shape {got.shape}, expected {np.shape(want)} "
                      "(the forward pass was given: did it get changed?)")
    err = gradcheck.relative_error(got, want)[0]
    report.parts.append(Part("forward", "forward (given)", got.shape, None, err, tol,
                             note="" if err < tol else "the forward differs: restore the given one"))


class _Broken(Exception):
    """The student's code cannot be checked at all (wrong shapes, crashes)."""


def _check_bce(ex, cls, report, rng, eps, tol):
    m = 6
    a = rng.standard_normal((m, 1)) * 2.0
    t = np.where(rng.random((m, 1)) < 0.5, 1.0, 0.0)
    t[0, 0], t[1, 0], t[2, 0] = 1.0, 0.0, 0.9          # real, fake, and a smoothed label
    c = 1.7                                          # upstream gradient: L = c * CE
    student = cls()
    report.header.append(f"  float64 (NumPy); logits {a.shape}; targets in {{0, 0.9, 1}}; upstream "
                         f"gradient dL/dCE = {c}; finite-difference step {eps:g}")
    ref_loss, ref_grad = losses.bce_with_logits(a, t)
    ref_grad = c * ref_grad
    with layers.no_grad():
        _given_forward(report, ex, student.forward(a.copy(), t), ref_loss, tol)
    try:
        student.forward(a.copy(), t)
        g = student.backward(c)
    except NotImplementedError as exc:
        raise NotImplementedYet(str(exc)) from exc
    fd = gradcheck.check_function(
        lambda logits: student.forward(logits, t), lambda upstream: student.backward(upstream), a.copy(),
        objective=lambda v: (c * float(v), c), eps=eps, tol=tol, title=ex.cls)
    g = _copy(g)
    ref_err, note = _against_reference(g, ref_grad)
    report.parts.append(Part("dCE/dlogits", "dCE/dlogits (input gradient)", a.shape,
                             fd.rows[0].rel_error, ref_err, tol, note))
    # a second upstream value: the answer must scale with grad_out (not ignore it)
    student.forward(a.copy(), t)
    g1 = _copy(student.backward(1.0))
    if g1 is not None and g1.shape == ref_grad.shape:
        e1 = gradcheck.relative_error(g1, ref_grad / c)[0]
        report.parts.append(Part("dCE/dlogits", "  ... with grad_out = 1", a.shape, None, e1, tol,
                                 note="" if e1 < tol or ref_err >= tol else "grad_out is not used as a factor"))


def _constant_factor(label, got, want, tol, known):
    """A sentence when ``got`` is the right gradient ``want`` times a constant other than 1
    (a missing 1/2, a missing 1/N, an unused grad_out, a flipped sign), else None.
    ``known``: (factor, what it means) pairs to name."""
    if got is None or got.shape != want.shape or not np.any(want):
        return None
    k = float((got * want).sum() / (want * want).sum())          # the least-squares factor
    if abs(k - 1) < 1e-3 or gradcheck.relative_error(got, k * want)[0] >= tol:
        return None
    for factor, meaning in known:
        if abs(k - factor) <= 1e-6 * abs(factor):
            return f"your {label} is {k:.4g} times the right one: {meaning}"
    return f"your {label} is {k:.4g} times the right one (every entry off by the same factor)"


def _pair_of_gradients(ex, out):
    """The student's backward must return two arrays; each as float64 (None where missing)."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise _Broken(f"{ex.cls}.backward must return a pair (dL/dmu, dL/dlogvar), got "
                      f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return [_copy(a) for a in out]


def _pair_parts(report, keys, got, want, fd, tol, known):
    """One row per gradient of a pair: against finite differences and the reference, and the
    constant factor it is off by, where it is."""
    for key, a, b, row in zip(keys, got, want, fd.rows):
        ref_err, note = _against_reference(a, b)
        report.parts.append(Part(key, f"{key} (input gradient)", b.shape, row.rel_error, ref_err, tol, note))
        said = _constant_factor(key, a, b, tol, known[key]) if ref_err >= tol else None
        if said:
            report.diagnoses.append(said)


def _check_reparameterisation(ex, cls, report, rng, eps, tol):
    n, j = 5, 3
    mu, logvar = rng.standard_normal((n, j)), rng.normal(0.0, 1.0, (n, j))
    noise = rng.standard_normal((n, j))                       # eps: one draw, frozen for the whole check
    R = rng.standard_normal((n, j))                           # the upstream gradient dL/dz
    student = cls()
    report.header.append(f"  float64 (NumPy); mu, logvar, eps {mu.shape}; eps frozen (the same draw in every "
                         f"forward); upstream gradient dL/dz random N(0, 1); finite-difference step {eps:g}")
    z_ref, cache = layers.reparameterise_forward(mu, logvar, noise)
    want = layers.reparameterise_backward(R, cache)
    with layers.no_grad():
        _given_forward(report, ex, student.forward(mu.copy(), logvar.copy(), noise.copy()), z_ref, tol)
    try:
        student.forward(mu.copy(), logvar.copy(), noise.copy())
        got = _pair_of_gradients(ex, student.backward(R.copy()))
    except NotImplementedError as exc:
        raise NotImplementedYet(str(exc)) from exc
    fd = gradcheck.check_function(lambda m, v: student.forward(m, v, noise), lambda g: student.backward(g),
                                  (mu.copy(), logvar.copy()), objective=lambda y: (float((y * R).sum()), R),
                                  eps=eps, tol=tol, title=ex.cls, input_names=["mu", "logvar"])
    sign = [(-1.0, "the sign is flipped")]
    known = {"dL/dmu": sign,
             "dL/dlogvar": [(2.0, "the 1/2 of dsigma/dlogvar = sigma / 2 is missing (sigma = exp(logvar / 2))"),
                            (0.5, "one 1/2 too many: dsigma/dlogvar = sigma / 2, and nothing else halves it")]
             + sign}
    _pair_parts(report, ("dL/dmu", "dL/dlogvar"), got, want, fd, tol, known)


def _check_gaussian_kl(ex, cls, report, rng, eps, tol):
    n, j = 6, 3
    mu, logvar = rng.standard_normal((n, j)), rng.normal(0.0, 1.0, (n, j))
    c = 1.7                                                   # upstream gradient: L = c * KL
    student = cls()
    report.header.append(f"  float64 (NumPy); mu, logvar {mu.shape}; upstream gradient dL/dKL = {c}; "
                         f"finite-difference step {eps:g}")
    ref_kl, *ref = losses.gaussian_kl(mu, logvar)
    want = [c * g for g in ref]
    with layers.no_grad():
        _given_forward(report, ex, student.forward(mu.copy(), logvar.copy()), ref_kl, tol)
    try:
        student.forward(mu.copy(), logvar.copy())
        got = _pair_of_gradients(ex, student.backward(c))
    except NotImplementedError as exc:
        raise NotImplementedYet(str(exc)) from exc
    fd = gradcheck.check_function(lambda m, v: student.forward(m, v), lambda upstream: student.backward(upstream),
                                  (mu.copy(), logvar.copy()), objective=lambda v: (c * float(v), c),
                                  eps=eps, tol=tol, title=ex.cls, input_names=["mu", "logvar"])
    common = [(2.0, "the 1/2 of -1/2 sum(...) is missing"),
              (float(n), f"the 1/N of the mean over the N = {n} rows is missing"),
              (1 / c, f"grad_out (here {c}) is not used as a factor"), (-1.0, "the sign is flipped")]
    known = {"dKL/dmu": common, "dKL/dlogvar": common + [(2.0 * n, "the 1/2 and the 1/N are both missing")]}
    _pair_parts(report, ("dKL/dmu", "dKL/dlogvar"), got, want, fd, tol, known)
    # a second upstream value: the answer must scale with grad_out (not ignore it)
    student.forward(mu.copy(), logvar.copy())
    once = _pair_of_gradients(ex, student.backward(1.0))
    if all(a is not None and a.shape == b.shape for a, b in zip(once, ref)):
        e1 = max(gradcheck.relative_error(a, b)[0] for a, b in zip(once, ref))
        report.parts.append(Part("grad_out", "  ... both, with grad_out = 1", mu.shape, None, e1, tol))


CHECKS = {"bce": _check_bce, "reparameterisation": _check_reparameterisation, "gaussian_kl": _check_gaussian_kl}


def check(name, path=None, *, seed=0, eps=gradcheck.DEFAULT_EPS, tol=TOL) -> Report:
    """Run exercise ``name`` on the student's file ``path`` and return the report.

    Raises ``UsageError`` for an unknown name, a missing file or a missing class.
    """
    if name not in EXERCISES:
        raise UsageError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")
    ex = EXERCISES[name]
    if path is None:
        d = exercise_dir()
        if d is None:
            raise UsageError("cannot find the lessons/exercises folder; pass the exercise FILE")
        path = d / f"{name}.py"
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    report = Report(ex, path)
    try:
        cls = _load_class(path, ex)
    except UsageError:
        raise
    except Exception as exc:                       # the student's file does not import
        report.problems.append(f"{path} failed to import: {type(exc).__name__}: {exc}")
        report.status = "FAIL"
        return report
    backend.use("numpy")
    rng = np.random.default_rng(seed)
    try:
        CHECKS.get(name, _check_layer)(ex, cls, report, rng, eps, tol)
    except NotImplementedYet as exc:
        report.status = "NOT IMPLEMENTED"
        report.problems.append(f"NotImplementedError: {exc}")
    except UsageError:
        raise
    except _Broken as exc:
        report.problems.append(str(exc))
        report.status = "FAIL"
    except Exception as exc:                       # the student's backward crashed
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}, line {f.lineno}: {f.line}" for f in reversed(tb)
                      if Path(f.filename).resolve() == path.resolve()), None)
        report.problems.append(f"{type(exc).__name__}: {exc}" + (f"  ({where})" if where else ""))
        report.status = "FAIL"
    return report.finish()


def main(argv=None) -> int:
    """``minigan check-exercise NAME [FILE]``; see the module docstring."""
    from .cli import ArgumentParser
    parser = ArgumentParser(
        prog="minigan check-exercise",
        description="Gradient-check your backward pass for one of the exercises in "
                    "lessons/exercises/ against finite differences and the library's own layer.",
        epilog="exercises: " + "; ".join(f"{e.name} ({e.summary})" for e in EXERCISES.values()))
    parser.add_argument("name", nargs="?", help="exercise: " + ", ".join(EXERCISES))
    parser.add_argument("file", nargs="?", help="your file (default: lessons/exercises/NAME.py)")
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument("--seed", type=int, default=0, help="seed of inputs, parameters, masks (default 0)")
    parser.add_argument("--tol", type=float, default=TOL, help=f"largest passing relative error (default {TOL:g})")
    parser.add_argument("--eps", type=float, default=gradcheck.DEFAULT_EPS,
                        help=f"finite-difference step (default {gradcheck.DEFAULT_EPS:g})")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:                      # argparse's own usage errors exit 2
        return int(exc.code or 0)
    if args.list:
        d = exercise_dir()
        for e in EXERCISES.values():
            where = d / f"{e.name}.py" if d else "?"
            print(f"{e.name:{max(map(len, EXERCISES))}s} {e.summary}   [{where}]")
        return 0
    if not args.name:
        print("minigan check-exercise: name an exercise: " + ", ".join(EXERCISES), file=sys.stderr)
        return 2
    if not (args.eps > 0 and args.tol > 0):
        print(f"minigan check-exercise: --eps and --tol must be > 0, got {args.eps}, {args.tol}",
              file=sys.stderr)
        return 2
    try:
        report = check(args.name, args.file, seed=args.seed, eps=args.eps, tol=args.tol)
    except UsageError as exc:
        print(f"minigan check-exercise: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return report.exit_code
