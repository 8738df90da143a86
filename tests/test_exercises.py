"""The exercise checker (``python -m minigan check-exercise``) on correct and wrong
backward passes.

Each student file in lessons/exercises/ is copied to a temporary folder with its
``raise NotImplementedError(...)`` line replaced by a body written here: a
correct solution, and deliberately wrong ones whose wrong part the checker must
name. The untouched files must get the "not implemented" verdict.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minigan import exercises

EXERCISE_DIR = Path(__file__).resolve().parent.parent / "lessons" / "exercises"

# name -> correct backward body (indented 8 spaces, replaces the raise line)
CORRECT = {
    "sigmoid": "return grad_out * y * (1 - y)",
    "relu": "return grad_out * positive",
    "linear": """self.grads["W"] += x.T @ grad_out
self.grads["b"] += grad_out.sum(axis=0)
return grad_out @ W.T""",
    "maxout": """grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, winner[..., None], grad_out[..., None], axis=2)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""",
    "dropout": "return grad_out * kept_scaled",
    "bce": "return grad_out * (sigmoid(logits) - t) / m",
    "reparameterisation": "return grad_z, grad_z * eps * sigma / 2",
    "gaussian_kl": "return grad_out * mu / n, grad_out * (np.exp(logvar) - 1) / (2 * n)",
}

# (name, label, body, parts the verdict must name as wrong, parts that must pass)
WRONG = [
    ("sigmoid", "y instead of y(1-y)", "return grad_out * y", ["dL/dx"], []),
    ("sigmoid", "missing the upstream gradient", "return y * (1 - y)", ["dL/dx"], []),
    ("relu", "no mask", "return grad_out", ["dL/dx"], []),
    ("relu", "mask inverted", "return grad_out * ~positive", ["dL/dx"], []),
    ("linear", "bias gradient averaged, not summed", """self.grads["W"] += x.T @ grad_out
self.grads["b"] += grad_out.mean(axis=0)
return grad_out @ W.T""", ["dL/db"], ["dL/dx", "dL/dW"]),
    ("linear", "weight gradient missing its factor x", """self.grads["W"] += np.ones_like(x).T @ grad_out
self.grads["b"] += grad_out.sum(axis=0)
return grad_out @ W.T""", ["dL/dW"], ["dL/dx", "dL/db", "grads accumulate"]),
    ("linear", "assigns grads instead of adding", """self.grads["W"] = x.T @ grad_out
self.grads["b"] = grad_out.sum(axis=0)
return grad_out @ W.T""", ["grads accumulate"], ["dL/dx", "dL/dW", "dL/db"]),
    ("linear", "input gradient with W instead of W^T (wrong shape)", """self.grads["W"] += x.T @ grad_out
self.grads["b"] += grad_out.sum(axis=0)
return grad_out.sum() * np.ones_like(x)""", ["dL/dx"], ["dL/dW", "dL/db"]),
    ("maxout", "gradient sent to every piece", """grad_z = np.repeat(grad_out[..., None], self.pieces, axis=2).reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["dL/dx", "dL/dW", "dL/db"], []),
    ("maxout", "bias gradient forgotten", """grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, winner[..., None], grad_out[..., None], axis=2)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] += x.T @ grad_z
return grad_z @ W.T""", ["dL/db"], ["dL/dx", "dL/dW", "grads accumulate"]),
    ("maxout", "assigns grads instead of adding", """grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, winner[..., None], grad_out[..., None], axis=2)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] = x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["grads accumulate"], ["dL/dx", "dL/dW", "dL/db"]),
    ("maxout", "dL/dz built as (m, pieces, units)", """grad_z = np.zeros((m, self.pieces, self.units))
np.put_along_axis(grad_z, winner[:, None, :], grad_out[:, None, :], axis=1)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["dL/dx", "dL/dW", "dL/db"], ["grads accumulate"]),
    ("maxout", "the right dL/dz transposed before the reshape", """grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, winner[..., None], grad_out[..., None], axis=2)
grad_z = grad_z.transpose(0, 2, 1).reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["dL/dx", "dL/dW", "dL/db"], []),
    ("maxout", "gradient sent to the losing piece", """z = (x @ W + self.params["b"]).reshape(m, self.units, self.pieces)
grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, z.argmin(axis=2)[..., None], grad_out[..., None], axis=2)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["dL/dx", "dL/dW", "dL/db"], []),
    ("maxout", "winners get 1, not dL/dy", """grad_z = np.zeros((m, self.units, self.pieces))
np.put_along_axis(grad_z, winner[..., None], 1.0, axis=2)
grad_z = grad_z.reshape(m, -1)
self.grads["W"] += x.T @ grad_z
self.grads["b"] += grad_z.sum(axis=0)
return grad_z @ W.T""", ["dL/dx", "dL/dW", "dL/db"], []),
    ("dropout", "mask without the scale", "return grad_out * (kept_scaled > 0)", ["dL/dx"], []),
    ("dropout", "a fresh mask in backward", "return grad_out * (self.rng.random(grad_out.shape) < self.keep) * self.scale",
     ["dL/dx"], []),
    ("dropout", "the frozen mask instead of the forward's", "return grad_out * self.fixed_mask * self.scale",
     ["two forwards"], ["dL/dx"]),
    ("bce", "missing the 1/m of the mean", "return grad_out * (sigmoid(logits) - t)", ["dCE/dlogits"], []),
    ("bce", "sign flipped", "return grad_out * (t - sigmoid(logits)) / m", ["dCE/dlogits"], []),
    ("bce", "grad_out ignored", "return (sigmoid(logits) - t) / m", ["dCE/dlogits (input gradient)"], []),
    ("reparameterisation", "the 1/2 of dsigma/dlogvar forgotten", "return grad_z, grad_z * eps * sigma",
     ["dL/dlogvar"], ["dL/dmu"]),
    ("reparameterisation", "eps forgotten", "return grad_z, grad_z * sigma / 2", ["dL/dlogvar"], ["dL/dmu"]),
    ("reparameterisation", "sigma^2 instead of sigma", "return grad_z, grad_z * eps * sigma ** 2 / 2",
     ["dL/dlogvar"], ["dL/dmu"]),
    ("reparameterisation", "dL/dmu scaled by eps", "return grad_z * eps, grad_z * eps * sigma / 2",
     ["dL/dmu"], ["dL/dlogvar"]),
    ("gaussian_kl", "the 1/2 of dlogvar forgotten", "return grad_out * mu / n, grad_out * (np.exp(logvar) - 1) / n",
     ["dKL/dlogvar"], ["dKL/dmu"]),
    ("gaussian_kl", "the 1/N forgotten", "return grad_out * mu, grad_out * (np.exp(logvar) - 1) / 2",
     ["dKL/dmu", "dKL/dlogvar"], []),
    ("gaussian_kl", "sign of dlogvar flipped", "return grad_out * mu / n, grad_out * (1 - np.exp(logvar)) / (2 * n)",
     ["dKL/dlogvar"], ["dKL/dmu"]),
    ("gaussian_kl", "grad_out ignored", "return mu / n, (np.exp(logvar) - 1) / (2 * n)",
     ["dKL/dmu", "dKL/dlogvar"], ["... both, with grad_out = 1"]),
    ("gaussian_kl", "exp(logvar) left out of dlogvar", "return grad_out * mu / n, -grad_out / (2 * n) + 0 * logvar",
     ["dKL/dlogvar"], ["dKL/dmu"]),
]

# (name, label) -> what the checker must say is wrong ("what is wrong: ..."); every other wrong
# answer of WRONG must get no such line (a diagnosis only where the checker can tell)
DIAGNOSIS = {
    ("maxout", "gradient sent to every piece"):
        "nonzero gradient at pieces that did not win the max: dL/dy_u went to every piece of unit u",
    ("maxout", "dL/dz built as (m, pieces, units)"):
        "dL/dz is in the wrong layout: its values are right, but in the columns of an (m, pieces, units) array",
    ("maxout", "the right dL/dz transposed before the reshape"):
        "dL/dz is in the wrong layout: its values are right, but in the columns of an (m, pieces, units) array",
    ("maxout", "gradient sent to the losing piece"):
        "nonzero gradient at pieces that did not win the max: the dL/dz behind your dL/dW (x^T dL/dz) is "
        "nonzero at 12 of the 36 pieces that lost",
    ("maxout", "winners get 1, not dL/dy"):
        "the gradient reaches only the winning pieces, as it should, but not with the value dL/dy_u",
    ("reparameterisation", "the 1/2 of dsigma/dlogvar forgotten"):
        "your dL/dlogvar is 2 times the right one: the 1/2 of dsigma/dlogvar = sigma / 2 is missing",
    ("gaussian_kl", "the 1/2 of dlogvar forgotten"):
        "your dKL/dlogvar is 2 times the right one: the 1/2 of -1/2 sum(...) is missing",
    ("gaussian_kl", "the 1/N forgotten"):
        "your dKL/dmu is 6 times the right one: the 1/N of the mean over the N = 6 rows is missing",
    ("gaussian_kl", "sign of dlogvar flipped"): "your dKL/dlogvar is -1 times the right one: the sign is flipped",
    ("gaussian_kl", "grad_out ignored"):
        "your dKL/dmu is 0.5882 times the right one: grad_out (here 1.7) is not used as a factor",
}

RAISE = re.compile(r"^( +)raise NotImplementedError\(.*\)\s*$", re.M)


def write_solution(tmp_path, name, body, tag="solution"):
    src = (EXERCISE_DIR / f"{name}.py").read_text()
    match = RAISE.search(src)
    assert match, f"{name}.py has no raise NotImplementedError line"
    indent = match.group(1)
    code = "\n".join(indent + line for line in body.splitlines())
    path = tmp_path / f"{name}_{tag}.py"
    path.write_text(src[:match.start()] + code + src[match.end():])
    return path


def run_checker(capsys, *argv):
    code = exercises.main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


def verdict_line(out):
    return next(line for line in out.splitlines() if line.startswith("verdict:"))


def part_line(out, label):
    return next(line for line in out.splitlines() if line.strip().startswith(label))


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_solution_passes(tmp_path, capsys, name):
    path = write_solution(tmp_path, name, CORRECT[name])
    code, out, _ = run_checker(capsys, name, path)
    assert code == 0, out
    assert verdict_line(out).startswith("verdict: PASS")
    # every part is listed with a measured error, and no part says NO
    assert "(input gradient)" in out
    assert not [line for line in out.splitlines() if line.rstrip().endswith(" NO")]


@pytest.mark.parametrize("name,label,body,wrong,right", WRONG, ids=[f"{w[0]}: {w[1]}" for w in WRONG])
def test_wrong_solution_fails_and_names_the_part(tmp_path, capsys, name, label, body, wrong, right):
    path = write_solution(tmp_path, name, body, tag="wrong")
    code, out, _ = run_checker(capsys, name, path)
    assert code == 1, out
    verdict = verdict_line(out)
    assert verdict.startswith("verdict: FAIL -- wrong:"), out
    for part in wrong:
        assert part in verdict, f"{part!r} not named in {verdict!r}\n{out}"
        assert "NO" in part_line(out, part).split()
    for part in right:
        assert part not in verdict, out
        assert part_line(out, part).split()[-1] == "yes", out
    said = [line.strip() for line in out.splitlines() if line.strip().startswith("what is wrong:")]
    if (name, label) in DIAGNOSIS:
        assert any(DIAGNOSIS[(name, label)] in line for line in said), out
        # said after the verdict, before the formula hints
        lines = out.splitlines()
        assert lines.index(verdict) < min(i for i, line in enumerate(lines) if "what is wrong:" in line)
    else:
        assert not said, out


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_untouched_exercise_file_is_not_implemented(capsys, name):
    code, out, _ = run_checker(capsys, name)          # default FILE: lessons/exercises/NAME.py
    assert code == 1
    assert verdict_line(out).startswith("verdict: NOT IMPLEMENTED")
    assert str(EXERCISE_DIR / f"{name}.py") in out
    assert "TODO" in out                              # the student's own NotImplementedError message


def test_the_parameter_layers_report_each_parameter(tmp_path, capsys):
    path = write_solution(tmp_path, "maxout", CORRECT["maxout"])
    _, out, _ = run_checker(capsys, "maxout", path)
    for label in ("dL/dx (input gradient)", "dL/dW (parameter 'W')", "dL/db (parameter 'b')",
                  "grads accumulate (+=)"):
        cells = part_line(out, label).split()
        assert cells[-1] == "yes"
        # measured relative errors, printed in scientific notation
        assert re.search(r"\d\.\d\de[-+]\d\d", part_line(out, label)), out


def test_a_crashing_backward_fails_with_the_error(tmp_path, capsys):
    path = write_solution(tmp_path, "sigmoid", "return grad_out * undefined_name")
    code, out, _ = run_checker(capsys, "sigmoid", path)
    assert code == 1
    assert "NameError" in out and verdict_line(out).startswith("verdict: FAIL")


def test_a_file_that_does_not_import_fails(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("class Sigmoid(:\n")
    code, out, _ = run_checker(capsys, "sigmoid", path)
    assert code == 1
    assert "failed to import" in out and "SyntaxError" in out


def test_bad_usage_exits_2(tmp_path, capsys):
    code, out, err = run_checker(capsys, "softmax")
    assert code == 2 and "unknown exercise 'softmax'" in err and "sigmoid" in err
    code, out, err = run_checker(capsys, "relu", tmp_path / "missing.py")
    assert code == 2 and "no such file" in err
    other = tmp_path / "other.py"
    other.write_text("class Something:\n    pass\n")
    code, out, err = run_checker(capsys, "relu", other)
    assert code == 2 and "no class 'ReLU'" in err
    code, out, err = run_checker(capsys)
    assert code == 2 and "name an exercise" in err


def test_command_line_end_to_end(tmp_path):
    path = write_solution(tmp_path, "relu", CORRECT["relu"])
    ok = subprocess.run([sys.executable, "-m", "minigan", "check-exercise", "relu", str(path)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verdict: PASS" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "minigan", "check-exercise", "nope"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "unknown exercise" in bad.stderr


def test_a_solved_exercise_trains_inside_the_gan(tmp_path, restore_backend):
    """A student's Linear, as the first layer of D and of G, goes through Algorithm 1's
    steps (which pass input_grad=False to the first layer) and gives the library's numbers.
    On NumPy whatever the run's backend: the exercises are NumPy code (the student's layer
    makes its parameters with ``np.random``)."""
    restore_backend.use("numpy")
    import importlib.util

    import numpy as np

    from minigan import data, optim
    from minigan.layers import Linear, ReLU, Sequential
    from minigan.train import GAN
    path = write_solution(tmp_path, "linear", CORRECT["linear"])
    spec = importlib.util.spec_from_file_location("student_linear", path)
    student = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(student)

    def build(first):
        G = Sequential(first(2, 8, rng=0), ReLU(), Linear(8, 2, rng=1, dtype=np.float64))
        D = Sequential(first(2, 8, rng=2), ReLU(), Linear(8, 1, rng=3, dtype=np.float64))
        return GAN(G, D, lambda m, rng: rng.standard_normal((m, 2)), lambda m, rng: rng.uniform(-1, 1, (m, 2)),
                   d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5), m=16, seed=0)

    def library(n_in, n_out, rng):
        layer = Linear(n_in, n_out, rng=rng, dtype=np.float64)
        layer.params["W"][...] = np.random.default_rng(rng).uniform(-0.5, 0.5, size=(n_in, n_out))
        return layer
    mine, ref = build(lambda n_in, n_out, rng: student.Linear(n_in, n_out, rng=rng)), build(library)
    mine.train(5)
    ref.train(5)
    for a, b in ((mine.G, ref.G), (mine.D, ref.D)):
        assert all(np.allclose(a.params[k], b.params[k], rtol=1e-12, atol=1e-14) for k in a.params)


@pytest.mark.parametrize("name", ["reparameterisation", "gaussian_kl"])
def test_the_vae_exercises_are_listed_with_their_reference(name, capsys):
    assert f"`{name}`" in (EXERCISE_DIR / "README.md").read_text()
    assert name in exercises.__doc__
    assert exercises.main(["--list"]) == 0
    assert any(line.startswith(name + " ") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("name,body", [("reparameterisation", "return grad_z"),
                                       ("gaussian_kl", "return grad_out * mu / n")])
def test_a_vae_backward_that_returns_one_array_fails_asking_for_the_pair(tmp_path, capsys, name, body):
    code, out, _ = run_checker(capsys, name, write_solution(tmp_path, name, body, tag="one"))
    assert code == 1 and verdict_line(out).startswith("verdict: FAIL")
    assert "backward must return a pair (dL/dmu, dL/dlogvar), got ndarray" in out, out


def test_the_reparameterisation_check_holds_eps_fixed(tmp_path, capsys):
    """A forward that draws its own eps (ignoring the one given) gives finite differences of a
    different function each time: the check must fail, not pass by luck."""
    src = write_solution(tmp_path, "reparameterisation", CORRECT["reparameterisation"]).read_text()
    path = tmp_path / "fresh_eps.py"
    path.write_text(src.replace("z = mu + sigma * eps", "eps = np.random.standard_normal(mu.shape)\n"
                                                        "        z = mu + sigma * eps"))
    code, out, _ = run_checker(capsys, "reparameterisation", path)
    assert code == 1 and "forward (given)" in verdict_line(out), out
