# %% [markdown]
# # Lesson 11 -- The textbook chapter: autoencoder, denoising autoencoder and VAE
#
# **Chapter:** generative models (13.1), the variational autoencoder (13.2), GANs (13.3), read
# beside the GAN paper. **Paper:** Kingma and Welling (2014), "Auto-Encoding Variational Bayes";
# the denoising autoencoder of Vincent et al. (2008). Every model here is built from the same
# hand-written layers as the GAN, and every derivative is checked in float64.
#
# Two questions from the study groups' notes, answered by running the code:
# 1. *Why does an autoencoder's compression "improve quality"?* (their answer: it removes noise)
#    Sections 2 and 3 measure what a bottleneck keeps and what a denoising autoencoder removes.
# 2. *The VAE's network in detail.* Section 4 goes through it one step at a time: encoder ->
#    mu, log sigma^2 -> reparameterisation -> decoder -> the two terms of the loss, each printed
#    and each gradient-checked.
# Section 5 puts the samples of the three side by side; the measured comparison with the GAN
# (Parzen, FID, precision, recall, test ELBO) is in benchmarks/RESULTS.md, "The textbook chapter".
#
# (한국어 요약) 교재의 생성 모델 장(13.1 생성 모델, 13.2 변분 오토인코더, 13.3 GAN)을 코드로 확인합니다.
# 스터디의 두 질문에 답합니다. (1) 오토인코더의 압축이 왜 "품질을 높이는가"? 병목(bottleneck)이 무엇을
# 남기는지, 잡음 제거 오토인코더가 무엇을 지우는지 측정합니다(2, 3절). (2) VAE 신경망의 구조: 인코더 ->
# 평균과 로그 분산 -> 재매개변수화 -> 디코더 -> 손실의 두 항(재구성 오차, KL 발산)을 한 단계씩 출력하고
# 각 기울기를 검사합니다(4절). 5절에서 세 모델의 표본을 나란히 봅니다.
#
# **What to look at**
# 1. Figure `11_bottleneck.png`: test digits through codes of 2, 8 and 32 numbers.
# 2. Figure `11_denoising.png` and the printed errors: a noisy digit, the plain autoencoder's
#    output, the denoising autoencoder's.
# 3. The printout of section 4: each step of the VAE with its shape, and PASS for each piece.
# 4. Figure `11_samples.png`: AE, DAE and VAE samples; `11_walk.png`: straight lines in the
#    VAE's latent space.
#
# The models are the `ae`, `dae` and `vae` presets of `minigan train` (784-400-code-400-784,
# Adam), trained here for a few epochs. The MNIST files are read from `--data-dir`, else
# `$MINIGAN_DATA`, else the cache folder; without them the lesson says so and stops.
#
# Time: the default run took 2 min 38 s (104 s of CPU time) on a 2-core machine beside other jobs (load
# about 3), `--quick` 12 s of CPU time (2026-12-07, one BLAS thread). (한국어: 기본 실행은 다른 작업이 도는
# 2코어 기계에서 2분 38초, `--quick`은 CPU 시간 12초.)
#
# Run: `python lessons/11_autoencoders.py [--data-dir DIR] [--out DIR] [--quick] [--iterations N]
# [--checkpoint CKPT]` (a `minigan train mnist-paper` checkpoint: its G's samples beside the others)
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("11", "the textbook chapter: autoencoder, denoising autoencoder and VAE",
                          out="11_autoencoders", mnist=True, quick="150 iterations per model (seconds)")
parser.add_argument("--iterations", type=int, default=None,
                    help="training iterations of each model (default 2000 = 4 epochs; 150 with --quick)")
parser.add_argument("--checkpoint", default=None,
                    help="a checkpoint of 'minigan train mnist-paper': its G's samples are drawn beside the others")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, data, layers, losses, presets
from minigan.gradcheck import check_function

iterations = args.iterations if args.iterations is not None else (150 if args.quick else 2000)
# a bad --checkpoint is refused before anything is read or written
gan_run = lesson_io.image_run_or_refuse("11", args.checkpoint, load_data=False) if args.checkpoint else None

# %% [markdown]
# ## 1. The data (or a clean stop without it)

# %%
(test, _), = lesson_io.mnist_or_stop("11", ("test",), kind=args.kind, data_dir=args.data_dir,
                                     download=args.download)
os.makedirs(args.out, exist_ok=True)
test = backend.to_device(test[:2000], dtype=np.float32)
digits = test[:10]


def train(name, label, **options):
    """Build preset ``name`` on the training images and train it, printing where it is."""
    run = presets.build(name, data_dir=args.data_dir, kind=args.kind, seed=args.seed, iterations=iterations,
                        **options)
    progress = lesson_io.ProgressLines(iterations, label)
    for _ in range(iterations):
        row = run.trainer.step()
        progress.update(values={"loss": row["loss"]})
    return run.trainer


# %% [markdown]
# ## 2. The bottleneck: what a code of K numbers keeps
#
# An autoencoder is an encoder f and a decoder g, trained so that g(f(x)) gives x back. A
# digit has 784 pixels; the code h = f(x) has K. With K small, the pair cannot copy the
# image: it must keep what most digits share (the stroke's shape) and drop the rest. The
# loss here is the Bernoulli cross-entropy -log p(x | h) summed over the pixels, with the
# decoder's outputs as logits; the printed error is the squared error ||g(f(x)) - x||^2 per
# test image, the same number for every model.

# %%
codes = (2, 8, 32)
bottleneck = {}
for k in codes:
    trainer = train("ae", f"ae, code of {k}", code_dim=k)
    found = trainer.evaluate(test)
    bottleneck[k] = backend.to_host(trainer.reconstruct(digits))
    print(f"ae, code of {k:2d} numbers: test squared error {found['squared_error']:.2f} per image "
          f"(Bernoulli loss {found['reconstruction']:.1f} nats)")
ae = trainer                                  # the 32-number autoencoder, for the next sections

fig, ax = plt.subplots(figsize=(7, 3.4))
lesson_io.draw_image_grid(ax, np.concatenate([backend.to_host(digits)] + [bottleneck[k] for k in codes]),
                          nrow=10, row_labels=["test digit"] + [f"code of {k}" for k in codes],
                          title=f"test digits through a bottleneck ({iterations} iterations each)")
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "11_bottleneck.png"), dpi=110)

# %% [markdown]
# ## 3. Denoising: what the autoencoder removes
#
# The study group's answer was that compression removes noise. Measure it: add Gaussian noise
# (standard deviation 0.5) to test digits and look at the error against the *clean* digit of
# (a) the noisy input itself, (b) the plain autoencoder's output, which never saw noise but
# can only put out what its 32-number code can describe, and (c) a denoising autoencoder
# (Vincent et al. 2008), trained on noisy inputs with the clean image as its target.

# %%
dae = train("dae", "dae, code of 32, noise 0.5", code_dim=32, corruption="gaussian", corruption_level=0.5)
noisy = data.CORRUPTIONS["gaussian"](test, 0.5, backend.default_rng(args.seed + 1))


def error(images):
    return float(((images - test) ** 2).sum(axis=1).mean())


errors = {"noisy input": error(noisy), "plain autoencoder": error(ae.reconstruct(noisy)),
          "denoising autoencoder": error(dae.reconstruct(noisy)),
          "plain autoencoder, clean input": error(ae.reconstruct(test))}
for what, e in errors.items():
    print(f"squared error against the clean digit, {what:30s}: {e:8.2f} per image")

fig, ax = plt.subplots(figsize=(7, 3.4))
rows = [digits, noisy[:10], ae.reconstruct(noisy[:10]), dae.reconstruct(noisy[:10])]
lesson_io.draw_image_grid(ax, np.concatenate([backend.to_host(r) for r in rows]), nrow=10,
                          row_labels=["clean", "noisy (0.5)", "autoencoder", "denoising AE"],
                          title="what each model gives back from a noisy digit")
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "11_denoising.png"), dpi=110)

# %% [markdown]
# The plain autoencoder already removes much of the noise: its code has no room for it. But
# it was never asked to, and it also loses detail of the clean digit (the last line). The
# denoising autoencoder is trained for exactly this: what its code keeps must be enough to
# undo the corruption. So "compression improves quality" is half right: a bottleneck drops
# what it cannot describe, noise included; removing noise on purpose takes a corruption in
# training.
#
# ## 4. The VAE, one step at a time
#
# A VAE's encoder does not give a code: it gives a distribution over codes,
# q(z | x) = N(mu, diag sigma^2), as two outputs per code unit, mu and log sigma^2 (the log keeps
# sigma positive with no constraint). The steps on a minibatch of 4 test digits, with the
# shapes:

# %%
vae = train("vae", "vae, z of 20")
x = test[:4]
with layers.no_grad():
    h = vae.encoder.forward(x)
k = vae.code_dim
mu, logvar = h[:, :k], h[:, k:]
eps = backend.default_rng(args.seed + 2).standard_normal(mu.shape, dtype=mu.dtype)
z, cache = layers.reparameterise_forward(mu, logvar, eps)
with layers.no_grad():
    a = vae.decoder.forward(z)
rec = losses.bernoulli_cross_entropy_per_example(a, x)
kl = losses.gaussian_kl_per_example(mu, logvar)
print(f"x                   {tuple(x.shape)}  the input")
print(f"h = encoder(x)      {tuple(h.shape)}  = [mu | log sigma^2], {k} of each")
print(f"mu[0, :4]           {np.round(backend.to_host(mu[0, :4]), 3)}")
sigma = backend.array_module(logvar).exp(logvar / 2)
print(f"sigma[0, :4]        {np.round(backend.to_host(sigma[0, :4]), 3)}  = exp(log sigma^2 / 2)")
print(f"eps ~ N(0, I)       {tuple(eps.shape)}  drawn outside the network")
print(f"z = mu + sigma*eps  {tuple(z.shape)}  the reparameterisation")
print(f"a = decoder(z)      {tuple(a.shape)}  a logit per pixel: p(x_d = 1 | z) = sigmoid(a_d)")
print(f"reconstruction      -log p(x | z) per digit: {np.round(backend.to_host(rec), 1)} nats")
print(f"KL(q(z|x) || N(0,I)) per digit:          {np.round(backend.to_host(kl), 1)} nats")
print(f"loss = reconstruction + KL = {float((rec + kl).mean()):.1f} nats per digit; -loss is the ELBO, "
      "a lower bound on log p(x)")

# %% [markdown]
# Why the trick: z drawn directly from N(mu, sigma^2) is a random number with no derivative
# with respect to mu or sigma. Written z = mu + sigma * eps with eps drawn first, z is an
# ordinary function of mu and sigma (eps is an input, like x), so dL/dmu = dL/dz and
# dL/dlog sigma^2 = dL/dz * eps * sigma / 2 (Kingma and Welling 2014, Section 2.4). The KL
# term has a closed form, -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2), with gradients mu and
# (sigma^2 - 1)/2. Each piece checked against central differences in float64:

# %%
r = np.random.default_rng(args.seed + 3)
mu64, lv64, eps64 = (r.normal(size=(3, 4)) for _ in range(3))
x64, a64 = r.uniform(0, 1, size=(3, 5)), r.normal(size=(3, 5))
kept = []


def reparam_forward(m, lv):
    z, c = layers.reparameterise_forward(m, lv, eps64)
    kept[:] = [c]
    return z


checks = {
    "reparameterisation z = mu + sigma * eps (eps fixed)":
        check_function(reparam_forward, lambda dz: layers.reparameterise_backward(dz, kept[0]), (mu64, lv64),
                       title="reparameterisation", input_names=["mu", "log sigma^2"]),
    "Gaussian KL, closed form":
        check_function(lambda m, lv: losses.gaussian_kl(m, lv)[0],
                       lambda dv: tuple(float(dv) * g for g in losses.gaussian_kl(mu64, lv64)[1:]), (mu64, lv64),
                       objective=lambda v: (v, 1.0), title="KL", input_names=["mu", "log sigma^2"]),
    "Bernoulli reconstruction -log p(x | z)":
        check_function(lambda a_: losses.bernoulli_cross_entropy(a_, x64)[0],
                       lambda dv: float(dv) * losses.bernoulli_cross_entropy(a64, x64)[1], a64,
                       objective=lambda v: (v, 1.0), title="reconstruction"),
}
for what, res in checks.items():
    print(f"gradient check, float64, {what:52s}: {'PASS' if res.passed else 'FAIL'} "
          f"(largest relative error {res.max_rel_error:.1e})")
found = vae.evaluate(test, rng=backend.default_rng(args.seed + 4))
print(f"vae after {iterations} iterations, on {len(test)} test digits: reconstruction {found['reconstruction']:.1f} "
      f"+ KL {found['kl']:.1f} nats; ELBO {found['elbo']:.1f} nats per digit")

# %% [markdown]
# The whole model, every parameter of both networks through all of these pieces, is checked
# the same way in `python -m minigan gradcheck` and in tests/test_autoencoder.py.
#
# ## 5. Samples: why the VAE's code space can be sampled
#
# To *generate*, one needs codes to decode. The VAE's KL term pulls every q(z | x) towards
# N(0, I), so decoding z ~ N(0, I) gives digits. A plain autoencoder's codes lie wherever
# training put them; its samples here decode draws from a Gaussian fitted to the training
# codes (their mean and covariance), the simplest density one can put on them, and where that
# Gaussian puts mass the decoder has seen no code, the images are not digits. The GAN's G
# is trained for exactly this and no encoder at all (lesson 07). A straight line between two
# codes of the VAE passes through digits all the way (the view of the GAN paper's Figure 3).

# %%
rng = backend.default_rng(args.seed + 5)
models = [("autoencoder (code 32)", ae), ("denoising AE", dae), ("VAE (z of 20)", vae)]
if gan_run is not None:
    models.append((f"GAN ({gan_run.trainer.iteration} iterations)", gan_run.trainer))
fig, axes = plt.subplots(1, len(models), figsize=(3.4 * len(models), 3.8))
for ax, (name, model) in zip(axes, models):
    lesson_io.draw_image_grid(ax, backend.to_host(model.sample(36, rng=rng)), nrow=6, title=name)
fig.suptitle(f"samples ({iterations} iterations each): AE and DAE decode a Gaussian fitted to their codes, "
             "the VAE decodes N(0, I)" + (", G maps its noise" if gan_run is not None else ""), fontsize=9)
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "11_samples.png"), dpi=110)

steps = 9
ends = vae.sample_codes(10, backend.default_rng(args.seed + 6))
xp = backend.array_module(ends)
t = xp.linspace(0, 1, steps, dtype=ends.dtype).reshape(1, steps, 1)
walk = ((1 - t) * ends[:5, None, :] + t * ends[5:, None, :]).reshape(5 * steps, -1)
fig, ax = plt.subplots(figsize=(6, 3.6))
lesson_io.draw_image_grid(ax, backend.to_host(vae.decode(walk)), nrow=steps,
                          title="VAE: decoding (1 - t) z_a + t z_b, t = 0 .. 1, z_a and z_b from N(0, I)")
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "11_walk.png"), dpi=110)
print(f"figures are in {os.path.abspath(args.out)}")
