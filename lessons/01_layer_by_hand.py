# %% [markdown]
# # Lesson 01 -- a layer by hand: forward, backward, the chain rule
#
# **Paper:** Goodfellow et al. (2014), Section 3 and Algorithm 1. G and D are
# multilayer perceptrons, and Algorithm 1 updates them "by ascending/descending
# the stochastic gradient" grad_theta_d and grad_theta_g. Those gradients come
# from backpropagation: each layer turns dL/d(output) into dL/d(input) and
# dL/d(parameters). This lesson writes that out for Linear, ReLU and Sigmoid
# and checks it against `minigan.layers`.
#
# (한국어 요약) 논문의 3절과 Algorithm 1: G와 D는 다층 퍼셉트론이고, Algorithm 1은 확률적 기울기 grad_theta_d와 grad_theta_g를 따라
# 둘을 갱신합니다. 그 기울기는 역전파에서 나옵니다. 각 층은 dL/d(출력)을 dL/d(입력)과 dL/d(파라미터)로 바꿉니다. 이 레슨은 Linear, ReLU,
# Sigmoid에 대해 이를 직접 써 보고 `minigan.layers`와 비교합니다.
#
# **What to look at**
# 1. dL/dW written as explicit sums over indices equals `x^T dL/dy` and equals
#    what `minigan.layers.Linear.backward` adds into `grads["W"]`.
# 2. The derivative of each activation (a curve) and a finite difference on
#    top of it (dots) -- figure `01_activations.png`.
# 3. The chain rule: backward through Linear -> Sigmoid -> Linear, one line
#    per layer, against `Sequential.backward`.
# 4. The cache stack: two forwards (the real and the fake batch) and two
#    backwards in reverse order give the sum of both gradients.
# 5. Gradient sizes through a deep stack of sigmoids vs ReLUs -- figure
#    `01_chain_rule.png`: every sigmoid multiplies by at most 1/4, and a ReLU
#    stack shrinks too, for another reason (the initialisation).
#
# Time: the default run took 4 s (1 s of CPU time) on a 2-core machine beside other jobs
# (load about 7; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 4초, CPU 시간 1초.)
#
# Run: `python lessons/01_layer_by_hand.py [--out DIR] [--quick]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("01", "a layer by hand", out="01_layer_by_hand", quick="smaller sizes (seconds)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, layers
from minigan.layers import Linear, ReLU, Sigmoid, Sequential

# This lesson writes out sums by hand on host (NumPy) arrays, so its layers live on
# the host too, whatever MINIGAN_BACKEND says (on a GPU, lessons 03-08 use CuPy).
if (os.environ.get("MINIGAN_BACKEND") or "numpy").lower() != "numpy":
    print(f"note: this lesson runs on NumPy (MINIGAN_BACKEND={os.environ['MINIGAN_BACKEND']} is for lessons 03-08)")
backend.use("numpy")
os.makedirs(args.out, exist_ok=True)
rng = np.random.default_rng(args.seed)
f64 = np.float64

# %% [markdown]
# ## 1. Linear: y = x W + b
#
# With L a scalar and g = dL/dy given (the "upstream gradient"):
#
#     y_ij = sum_k x_ik W_kj + b_j
#     dL/dW_kj = sum_i dL/dy_ij * dy_ij/dW_kj = sum_i x_ik g_ij   ->  x^T g
#     dL/db_j  = sum_i g_ij                                        ->  g summed over the batch
#     dL/dx_ik = sum_j g_ij W_kj                                   ->  g W^T

# %%
m, n_in, n_out = 3, 4, 2
lin = Linear(n_in, n_out, rng=args.seed, dtype=f64)
lin.params["b"][...] = rng.normal(size=n_out)
x = rng.normal(size=(m, n_in))
g = rng.normal(size=(m, n_out))          # an arbitrary upstream gradient dL/dy
W, b = lin.params["W"], lin.params["b"]

# the sums, one index at a time
dW_loops = np.zeros_like(W)
for k in range(n_in):
    for j in range(n_out):
        dW_loops[k, j] = sum(x[i, k] * g[i, j] for i in range(m))
db_loops = np.array([sum(g[i, j] for i in range(m)) for j in range(n_out)])
dx_loops = np.array([[sum(g[i, j] * W[k, j] for j in range(n_out)) for k in range(n_in)]
                     for i in range(m)])

# the library layer
y = lin.forward(x)
lin.zero_grad()
dx_layer = lin.backward(g)

print("Linear forward  max|y - (xW + b)|       =", np.abs(y - (x @ W + b)).max())
print("dL/dW: loops vs x^T g                   =", np.abs(dW_loops - x.T @ g).max())
print("dL/dW: loops vs Linear.backward          =", np.abs(dW_loops - lin.grads["W"]).max())
print("dL/db: loops vs Linear.backward          =", np.abs(db_loops - lin.grads["b"]).max())
print("dL/dx: loops vs Linear.backward          =", np.abs(dx_loops - dx_layer).max())

# %% [markdown]
# ## 2. Activations: ReLU and Sigmoid
#
#     ReLU:     y = max(0, x)      dy/dx = 1[x > 0]   (a kink at 0: see lesson 02)
#     Sigmoid:  y = 1/(1+e^-x)     dy/dx = y (1 - y)  (at most 1/4, at x = 0)
#
# Elementwise layers have a diagonal Jacobian, so backward with g = 1 returns
# dy/dx itself. The dots are central differences (f(x+h) - f(x-h)) / 2h.

# %%
grid = np.linspace(-6, 6, 241 if not args.quick else 61)[:, None]
h = 1e-5
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, layer in zip(axes, (ReLU(), Sigmoid())):
    name = type(layer).__name__
    yv = layer.forward(grid)
    deriv = layer.backward(np.ones_like(grid))
    with layers.no_grad():
        fd = (layer.forward(grid + h) - layer.forward(grid - h)) / (2 * h)
    away_from_kink = np.abs(grid) > 2 * h
    err = np.abs(deriv - fd)[away_from_kink].max()
    print(f"{name:8s} max |backward - finite difference| (away from x = 0) = {err:.2e}; "
          f"max dy/dx = {deriv.max():.4f}")
    ax.plot(grid, yv, label=f"{name}(x)")
    ax.plot(grid, deriv, label="dy/dx from backward")
    ax.plot(grid[::6], fd[::6], "o", ms=3, label="finite difference")
    ax.set_title(name)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "01_activations.png")
lesson_io.save_figure(fig, path, dpi=110)

# %% [markdown]
# ## 3. The chain rule through a small network
#
# net = Linear(2, 4) -> Sigmoid -> Linear(4, 1), L = mean of the output.
# Backward visits the layers in reverse, each time multiplying by the local
# derivative (the transposed Jacobian):
#
#     dL/dy2 = 1/m
#     dL/dh  = dL/dy2 W2^T          (Linear 2)
#     dL/da1 = dL/dh * h (1 - h)    (Sigmoid)
#     dL/dx  = dL/da1 W1^T          (Linear 1), and dL/dW1 = x^T dL/da1

# %%
net = Sequential(Linear(2, 4, rng=1, dtype=f64), Sigmoid(), Linear(4, 1, rng=2, dtype=f64))
x = rng.normal(size=(5, 2))
W1, b1 = net.layers[0].params["W"], net.layers[0].params["b"]
W2, b2 = net.layers[2].params["W"], net.layers[2].params["b"]

a1 = x @ W1 + b1
hid = 1 / (1 + np.exp(-a1))
out = hid @ W2 + b2
L = out.mean()
g_out = np.full_like(out, 1 / out.size)
g_h = g_out @ W2.T
g_a1 = g_h * hid * (1 - hid)
g_x = g_a1 @ W1.T
g_W1 = x.T @ g_a1

net.zero_grad()
out_net = net.forward(x)
g_x_net = net.backward(g_out)
print("chain rule: L =", float(L), "| forward difference", np.abs(out - out_net).max())
print("dL/dx  by hand vs Sequential.backward  =", np.abs(g_x - g_x_net).max())
print("dL/dW1 by hand vs Sequential.backward  =", np.abs(g_W1 - net.grads["0.W"]).max())
print("dL/dW2 by hand vs Sequential.backward  =", np.abs(hid.T @ g_out - net.grads["2.W"]).max())

# %% [markdown]
# ## 4. Two forwards, two backwards: the cache stack
#
# D sees the real batch and then the fake batch before any backward. Each
# forward pushes a cache; each backward pops the newest one (last in, first
# out) and *adds* into `grads`. So the two backward passes give the sum of
# the two separate gradients -- which is what the gradient of V(D, G), a sum
# of a real term and a fake term, needs.

# %%
x_real, x_fake = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
g_real, g_fake = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
separate = {}
for name, xb, gb in (("real", x_real, g_real), ("fake", x_fake, g_fake)):
    net.zero_grad()
    net.forward(xb)
    net.backward(gb)
    separate[name] = {k: v.copy() for k, v in net.grads.items()}
net.zero_grad()
net.forward(x_real)
net.forward(x_fake)
net.backward(g_fake)          # the newest cache (fake) first
net.backward(g_real)
worst = max(np.abs(net.grads[k] - separate["real"][k] - separate["fake"][k]).max() for k in net.grads)
print("stacked backward vs sum of separate backwards: max difference =", worst)

# %% [markdown]
# ## 5. How big are the gradients after many layers?
#
# The chain rule multiplies local derivatives. A sigmoid's is at most 1/4, so
# through a deep stack of sigmoids dL/dx shrinks fast, layer after layer.
#
# A ReLU's derivative is 0 or 1, so it never scales a gradient down -- and yet
# the ReLU stack's gradient shrinks too (the printed ratio). The 0s are the
# reason: for each example, about half the units had a negative input, and
# they pass back nothing. Each Linear backward, dL/dx = g W^T, keeps the
# gradient's size on average when W has Glorot's variance 2 / (n_in + n_out)
# (here 1 / width; `minigan.layers.Linear`'s default, chosen for linear
# units); each ReLU then zeroes about half the entries, halving the squared
# size. So the gradient's length falls by about 1/sqrt(2) = 0.71 per layer:
# (1/sqrt 2)^11, about 1/45, over the 11 ReLU + Linear pairs between the last
# layer and the first. It is the initialisation, not the ReLU's derivative,
# that does not suit a ReLU: He et al. (2015) draw the weights sqrt(2) times
# larger to make up for the halving, and the third line (the same stack, W
# times sqrt(2)) keeps the gradient's size. The printed "per layer" is the
# geometric mean of the layer-to-layer ratios.
# (The paper's generator uses ReLU hidden units, its discriminator maxout
# units, which are also piecewise linear.)

# %%
depth = 12 if not args.quick else 6
width = 64 if not args.quick else 16
norms = {}
for name, act, scale in (("Sigmoid", Sigmoid, 1.0), ("ReLU", ReLU, 1.0),
                         ("ReLU, W x sqrt(2)", ReLU, np.sqrt(2.0))):
    stack = []
    for i in range(depth):
        lin = Linear(width, width, rng=100 + i, dtype=f64)
        lin.params["W"][...] *= scale              # 1: Glorot's variance; sqrt(2): He's for ReLUs
        stack += [lin, act()]
    deep = Sequential(*stack)
    xb = rng.normal(size=(32, width))
    deep.forward(xb)
    g = rng.normal(size=(32, width)) / 32
    per_layer = []
    for layer in reversed(deep.layers):           # backward by hand, recording |dL/d(input)|
        g = layer.backward(g)
        if isinstance(layer, Linear):
            per_layer.append(np.linalg.norm(g))
    norms[name] = per_layer[::-1]                # index 0 = the first layer
    ratio = per_layer[-1] / per_layer[0]
    print(f"{name:18s} |dL/dx| at the last layer {per_layer[0]:.3e}, at the first {per_layer[-1]:.3e}"
          f" (ratio {ratio:.2e}; {ratio ** (1 / (depth - 1)):.2f} per layer)")

fig, ax = plt.subplots(figsize=(6, 3.8))
for name, v in norms.items():
    ax.semilogy(range(1, depth + 1), v, "o-", label=name)
ax.set_xlabel("layer (1 = nearest the input)")
ax.set_ylabel("|dL/d input of layer|")
ax.set_title(f"Gradient size through {depth} layers (Glorot init)")
ax.legend()
fig.tight_layout()
path = os.path.join(args.out, "01_chain_rule.png")
lesson_io.save_figure(fig, path, dpi=110)
print(f"figures are in {os.path.abspath(args.out)}")
