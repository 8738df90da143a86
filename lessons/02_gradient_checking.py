# %% [markdown]
# # Lesson 02 -- gradient checking: trust no backward pass until it is measured
#
# **Paper:** Goodfellow et al. (2014), Algorithm 1 and Section 6 ("only
# backprop is used to obtain gradients"). Every update of Algorithm 1
# follows grad_theta_d and grad_theta_g; a wrong derivative does not crash --
# it trains something else, quietly. The paper's discriminator uses maxout
# units and dropout, its generator ReLUs: exactly the layers where a careless
# gradient check is fooled.
#
# (한국어 요약) Algorithm 1의 모든 갱신은 grad_theta_d와 grad_theta_g를 따릅니다(6절: 기울기는 역전파로만 구한다). 틀린 도함수는 오류를 내지
# 않고 조용히 다른 것을 학습시킵니다. 논문의 판별자는 맥스아웃과 드롭아웃을, 생성자는 ReLU를 씁니다. 부주의한 기울기 확인이 속기 쉬운 바로 그 층들입니다.
#
# **What to look at**
# 1. The central difference (f(x+h) - f(x-h)) / 2h and the relative error
#    |a - n| / (|a| + |n|) -- `minigan.gradcheck.relative_error`.
# 2. Figure `02_step_size.png`: error against the step h, in float32 and
#    float64, for forward and central differences. Too large an h: truncation
#    error; too small: rounding error. Only float64 leaves a wide valley.
# 3. Figure `02_kinks.png`: at a ReLU kink or a tie between maxout pieces the
#    finite difference averages two slopes; a correct backward then "fails".
# 4. Dropout: resampling the mask between the perturbed forwards fails a
#    correct backward; a frozen mask (`Dropout.fixed_mask`) passes it.
# 5. `minigan.gradcheck` doing all of this for every layer and loss
#    (`python -m minigan gradcheck`), and the exercises that use it
#    (`python -m minigan check-exercise NAME`).
#
# Time: the default run took 6 s (2 s of CPU time) on a 2-core machine beside other jobs
# (load about 7; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 6초, CPU 시간 2초.)
#
# Run: `python lessons/02_gradient_checking.py [--out DIR] [--quick]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("02", "gradient checking", out="02_gradient_checking", quick="fewer step sizes (seconds)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, gradcheck, layers
from minigan.layers import Dropout, Linear, Maxout, ReLU, Sigmoid

# This lesson writes out sums by hand on host (NumPy) arrays, so its layers live on
# the host too, whatever MINIGAN_BACKEND says (on a GPU, lessons 03-08 use CuPy).
if (os.environ.get("MINIGAN_BACKEND") or "numpy").lower() != "numpy":
    print(f"note: this lesson runs on NumPy (MINIGAN_BACKEND={os.environ['MINIGAN_BACKEND']} is for lessons 03-08)")
backend.use("numpy")
os.makedirs(args.out, exist_ok=True)
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## 1. Central differences and the relative error
#
# For a scalar L(theta) and one entry theta_i:
#
#     forward difference:  (L(theta + h e_i) - L(theta)) / h          error O(h)
#     central difference:  (L(theta + h e_i) - L(theta - h e_i)) / 2h  error O(h^2)
#
# Compare the analytic gradient a (from backward) with the numeric n by
# the relative error max|a - n| / max(|a| + |n|): an absolute error of 1e-6
# means nothing without the size of the gradient. Every check in this lesson
# passes when that relative error is below one tolerance,
# `gradcheck.DEFAULT_TOL` (printed below): with float64 and h = 1e-6 the
# correct backwards of this lesson come within 1e-9 of the central
# differences, while the failures it shows (a kink, a resampled mask) are off
# by 1e-2 and more. The scalar is L = sum(y * R)
# with R random -- with R = 1 some wrong backwards (a swapped transpose, say)
# still pass.

# %%
layer = Linear(4, 3, rng=args.seed, dtype=np.float64)
x = rng.standard_normal((5, 4))
R = rng.standard_normal((5, 3))

def L():
    with layers.no_grad():
        return float((layer.forward(x) * R).sum())

layer.zero_grad()
layer.forward(x)
layer.backward(R)
numeric_W = gradcheck.numeric_gradient(L, layer.params["W"], eps=1e-6)
rel, ab = gradcheck.relative_error(layer.grads["W"], numeric_W)
print(f"Linear dL/dW: relative error {rel:.2e}, max |a - n| {ab:.2e}  (float64, h = 1e-6)")
print(f"a check PASSes when its relative error is below tol = {gradcheck.DEFAULT_TOL:g} "
      f"(gradcheck.DEFAULT_TOL, for float64 and h = {gradcheck.DEFAULT_EPS:g}): "
      f"{'PASS' if rel < gradcheck.DEFAULT_TOL else 'FAIL'} here")

# %% [markdown]
# ## 2. Which step h? float32 against float64
#
# One Sigmoid unit, f(x) = sigma(x) at x = 0.7, its exact derivative
# sigma(x)(1 - sigma(x)) against forward and central differences for h from
# 1e-1 down to 1e-12, computed in float32 and in float64.

# %%
steps = np.logspace(-1, -12, 12 if args.quick else 45)
x0 = 0.7
results = {}
for dtype in (np.float32, np.float64):
    sig = Sigmoid()
    xv = np.array([[x0]], dtype=dtype)
    y = sig.forward(xv)
    exact = float(sig.backward(np.ones_like(xv))[0, 0])
    fwd, cen = [], []
    for h in steps:
        hh = dtype(h)
        with layers.no_grad():
            fp = float(sig.forward(xv + hh)[0, 0])
            fm = float(sig.forward(xv - hh)[0, 0])
            f0 = float(sig.forward(xv)[0, 0])
        fwd.append(abs((fp - f0) / float(hh) - exact) / abs(exact))
        cen.append(abs((fp - fm) / (2 * float(hh)) - exact) / abs(exact))
    results[np.dtype(dtype).name] = (np.array(fwd), np.array(cen))
for name, (fwd, cen) in results.items():
    i = int(np.argmin(cen))
    print(f"{name}: best central-difference relative error {cen[i]:.1e} at h = {steps[i]:.0e}; "
          f"best forward-difference {fwd.min():.1e}; at h = 1e-6 central gives {cen[np.argmin(abs(steps - 1e-6))]:.1e}")

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, (fwd, cen) in results.items():
    style = "-" if name == "float64" else "--"
    ax.loglog(steps, np.maximum(cen, 1e-17), style, marker="o", ms=3, label=f"central, {name}")
    ax.loglog(steps, np.maximum(fwd, 1e-17), style, marker="x", ms=3, label=f"forward, {name}")
ax.axvline(1e-6, color="0.6", lw=0.8)
ax.invert_xaxis()
ax.set_xlabel("step h (smaller to the right)")
ax.set_ylabel("relative error of the derivative")
ax.set_title("d sigma/dx at x = 0.7 by finite differences")
ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "02_step_size.png")
lesson_io.save_figure(fig, path, dpi=110)

# %% [markdown]
# ## 3. The kink trap: ReLU at 0 and maxout ties
#
# ReLU has slope 0 left of 0 and 1 right of it. A central difference at
# x within h of 0 straddles the kink and measures something in between (1/2
# at x = 0 exactly) -- while backward, correctly, says 0 or 1. Maxout has the
# same kink wherever its two largest pieces tie. A correct layer then fails
# its check. The cure is not a looser tolerance but inputs away from the
# kinks: `gradcheck.check_layer` measures each row's distance to the nearest
# kink and re-draws rows that are too close, and says how many it moved.

# %%
h = 1e-6
offsets = np.linspace(-3 * h, 3 * h, 61)
relu = ReLU()
with layers.no_grad():
    numeric_slope = (relu.forward((offsets + h)[:, None]) - relu.forward((offsets - h)[:, None]))[:, 0] / (2 * h)
relu.forward(offsets[:, None])
analytic_slope = relu.backward(np.ones((len(offsets), 1)))[:, 0]

# a ReLU input with exact zeros, checked without and with kink handling
x_kink = rng.standard_normal((4, 5))
x_kink[:, 0] = 0.0
bare = gradcheck.check_function(relu.forward, relu.backward, x_kink.copy(), title="ReLU, x with zeros")
handled = gradcheck.check_layer(ReLU(), x_kink, title="ReLU via check_layer")
print(f"ReLU, inputs with exact zeros: plain central differences rel. error {bare.rows[0].rel_error:.2e} "
      f"({'PASS' if bare.passed else 'FAIL'}); check_layer {handled.rows[0].rel_error:.2e} "
      f"({'PASS' if handled.passed else 'FAIL'}, rows moved away from the kink: {handled.kinks_moved})")

# a maxout with an exact tie between two pieces of unit 0 on row 0
mx = Maxout(3, 2, 3, rng=args.seed, dtype=np.float64)
x_tie = rng.standard_normal((3, 3))
z = x_tie @ mx.params["W"] + mx.params["b"]
top = int(np.argmax(z[0, :3]))
other = (top + 1) % 3
mx.params["b"][other] += z[0, top] - z[0, other]        # now pieces `top` and `other` tie on row 0
bare_mx = gradcheck.check_function(mx.forward, mx.backward, x_tie.copy(), mx.params, mx.grads,
                                   zero_grad=mx.zero_grad, title="Maxout with a tie")
handled_mx = gradcheck.check_layer(mx, x_tie, title="Maxout via check_layer")
worst_bare = max(r.rel_error for r in bare_mx.rows)
print(f"Maxout with a tie: plain check worst rel. error {worst_bare:.2e} "
      f"({'PASS' if bare_mx.passed else 'FAIL'}); check_layer worst {handled_mx.max_rel_error:.2e} "
      f"({'PASS' if handled_mx.passed else 'FAIL'}, rows moved {handled_mx.kinks_moved})")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.6))
ax0.plot(offsets / h, analytic_slope, label="backward (subgradient 0 at x = 0)")
ax0.plot(offsets / h, numeric_slope, "o", ms=3, label="central difference, step h")
ax0.set_xlabel("x / h")
ax0.set_ylabel("d ReLU / dx")
ax0.set_title("ReLU near its kink")
ax0.legend(fontsize=8)
names = [r.name for r in bare_mx.rows]
pos = np.arange(len(names))
ax1.bar(pos - 0.2, [max(r.rel_error, 1e-17) for r in bare_mx.rows], 0.4, label="at the tie")
ax1.bar(pos + 0.2, [max(r.rel_error, 1e-17) for r in handled_mx.rows], 0.4, label="rows moved off the tie")
ax1.axhline(gradcheck.DEFAULT_TOL, color="k", lw=0.8, ls="--", label="tolerance")
ax1.set_yscale("log")
ax1.set_xticks(pos, names)
ax1.set_ylabel("relative error")
ax1.set_title("Maxout: a correct backward, checked at a tie")
ax1.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "02_kinks.png")
lesson_io.save_figure(fig, path, dpi=110)

# %% [markdown]
# ## 4. Dropout: freeze the mask
#
# Dropout draws a new mask at every forward. The finite difference calls
# forward twice per entry, so without a frozen mask it compares two
# *different* functions. Setting `fixed_mask` makes every forward use the
# same mask -- `gradcheck.check_layer` does it for every Dropout it finds.

# %%
drop = Dropout(0.5, rng=args.seed)
x_d = rng.standard_normal((4, 5))
resampled = gradcheck.check_function(drop.forward, drop.backward, x_d.copy(), title="Dropout, new mask each forward")
frozen = gradcheck.check_layer(Dropout(0.5, rng=args.seed), x_d, title="Dropout, mask frozen")
print(f"Dropout: mask resampled at every forward rel. error {resampled.rows[0].rel_error:.2e} "
      f"({'PASS' if resampled.passed else 'FAIL'}); mask frozen {frozen.rows[0].rel_error:.2e} "
      f"({'PASS' if frozen.passed else 'FAIL'})")

# %% [markdown]
# ## 5. Everything at once: `python -m minigan gradcheck`
#
# Every layer, every loss, the G step through a frozen D and D used twice
# (real, then fake) before its backward -- in float64, with a random
# upstream gradient, frozen masks and kinks avoided. Then try the exercises:
# `python -m minigan check-exercise linear` checks *your* backward pass.

# %%
all_results = gradcheck.all_checks(seed=args.seed)
print(gradcheck.format_results(all_results).splitlines()[-1]
      + f" (each against tol = {gradcheck.DEFAULT_TOL:g} on the relative error)")
worst = max(all_results, key=lambda r: r.max_rel_error if np.isfinite(r.max_rel_error) else -1)
print(f"largest relative error over all checks: {worst.max_rel_error:.2e} ({worst.title})")
with open(os.path.join(args.out, "02_gradcheck_table.txt"), "w") as f:
    f.write(gradcheck.format_results(all_results) + "\n")
print("saved", os.path.join(args.out, "02_gradcheck_table.txt"))
print(f"figures are in {os.path.abspath(args.out)}")
