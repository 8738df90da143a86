"""Exercise: the gradients of the VAE's KL term, KL(q(z | x) || N(0, I)) in closed form.

The encoder gives, for each of the N rows, the mean mu and the log-variance
logvar = log sigma^2 of q(z | x) = N(mu, diag sigma^2) over J latent dimensions. The
prior is p(z) = N(0, I). Kingma & Welling (2014, Appendix B) work out the KL of the two
Gaussians without any sampling; averaged over the rows of a minibatch,

    KL = (1/N) sum_n  -1/2 sum_j ( 1 + logvar_nj - mu_nj^2 - exp(logvar_nj) ).

It is 0 exactly when q is the prior (mu = 0, logvar = 0) and positive otherwise.

The forward pass is written for you. Your job: ``backward(grad_out=1.0)`` returns the
pair ``(dL/dmu, dL/dlogvar)`` = grad_out * (dKL/dmu, dKL/dlogvar), each of mu's shape.

Hint: every entry (n, j) appears in one term of the sum only, so each gradient is
elementwise: differentiate -1/2 (1 + v - m^2 - e^v) with respect to m and to v. Keep the
1/N of the mean over the rows and the -1/2 in front, and multiply by grad_out.

Check your answer with  ``python -m minigan check-exercise gaussian_kl``.
"""
import numpy as np

from minigan.layers import Layer


class GaussianKL(Layer):
    """Mean over rows of KL(N(mu, diag exp(logvar)) || N(0, I)); no parameters."""

    def forward(self, mu, logvar):
        kl = np.mean(-0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1))
        self._save(mu, logvar)
        return kl

    def backward(self, grad_out=1.0):
        """Return (dL/dmu, dL/dlogvar) = grad_out * (dKL/dmu, dKL/dlogvar), each of mu's shape."""
        mu, logvar = self._load()
        n = mu.shape[0]        # the number of rows in the mean
        # TODO: return grad_out * dKL/dmu, grad_out * dKL/dlogvar
        raise NotImplementedError("TODO: GaussianKL.backward -- return dKL/dmu, dKL/dlogvar")
