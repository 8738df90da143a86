"""What a finished autoencoder run (``minigan train ae|dae|vae``) reports: its figures (training
curves, samples, reconstructions of test digits) and its numbers on the held-out test set
(reconstruction loss and squared error per example; a VAE's KL and ELBO; a denoising
autoencoder's error on corrupted inputs), drawn from evaluation streams that never touch the
training stream.
"""
from __future__ import annotations

import os

import numpy as np

from .. import backend, data
from .reports import eval_rng, viz

__all__ = ["AutoencoderReporter", "N_RECONSTRUCT"]

N_RECONSTRUCT = 10          # test digits shown in reconstructions.png


class AutoencoderReporter:
    """Figures and final numbers of an ``AutoencoderTrainer`` run (the ``Reporter`` of a GAN run's
    counterpart: no snapshots during training)."""

    snapshot_at = ()

    def __init__(self, run, out, start, iterations, figures=True):
        self.run, self.out, self.figures = run, out, figures
        self.written = []              # (file, what)

    def on_snapshot(self, trainer):    # nothing is drawn during training
        pass

    def _note(self, name, what):
        self.written.append((os.path.join(self.out, name), what))

    def _test_images(self):
        """The test split of the run's images, or None (with the reason) where it cannot be read."""
        extra = self.run.extra
        try:
            images, _ = data.load_mnist("test", data_dir=extra.get("data_dir"), kind=extra.get("kind", "mnist"),
                                        download=False)
        except (OSError, ValueError) as exc:
            return None, " ".join(str(exc).split())[:200]
        return backend.to_device(images, dtype=self.run.trainer.model.dtype), None

    def finish(self, preset):
        """Draw the figures; return lines of final numbers."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._finish(preset)

    def _finish(self, preset):
        tr, out = self.run.trainer, self.out
        test, why = self._test_images()
        lines = []
        if test is None:
            lines.append(f"no test-set numbers: the test images could not be read ({why})")
        else:
            found = tr.evaluate(test, rng=eval_rng(tr, 4))
            unit = "nats" if tr.reconstruction == "bernoulli" else "squared error"
            text = (f"on the {len(test):,} test images, per example: reconstruction loss "
                    f"{found['reconstruction']:.2f} ({unit}), squared error of the reconstruction "
                    f"{found['squared_error']:.2f}")
            if tr.variational:
                text += (f", KL {found['kl']:.2f} nats, ELBO {found['elbo']:.2f} nats (one draw of z per image; "
                         "a lower bound on log p(x))")
            if "denoised_squared_error" in found:
                text += (f"; from {tr.corruption}-corrupted inputs (level {tr.corruption_level:g}) the squared "
                         f"error is {found['denoised_squared_error']:.2f}")
            lines.append(text)
        if not self.figures:
            return lines
        draw = viz()
        draw.plot_autoencoder_history(tr.history, os.path.join(out, "history.png"))
        self._note("history.png", "the loss per example and its terms, and the gradient norm, per iteration")
        images = backend.to_host(tr.sample(100, rng=eval_rng(tr, 1)))
        draw.image_grid(images, os.path.join(out, "samples.png"), nrow=10)
        where = ("z from the prior N(0, I)" if tr.variational else
                 "z from a Gaussian fitted to the training set's codes")
        self._note("samples.png", f"100 samples, the decoder's mean image at {where}")
        if test is not None:
            x = test[:N_RECONSTRUCT]
            rows = [x]
            if tr.corruption is not None:
                x_in = tr.corrupt(x, eval_rng(tr, 5))
                rows += [x_in, tr.reconstruct(x_in)]
                what = "test digits, the same corrupted, and what the denoising autoencoder gives back"
            else:
                rows.append(tr.reconstruct(x))
                what = "test digits (top) and their reconstructions (below)"
            draw.image_grid(np.concatenate([backend.to_host(r) for r in rows]),
                            os.path.join(out, "reconstructions.png"), nrow=N_RECONSTRUCT)
            self._note("reconstructions.png", what)
        return lines
