"""Exercise: the gradient through a VAE's sample -- the reparameterisation trick.

A VAE's encoder gives, for each row, the mean mu and the log-variance logvar = log sigma^2
of q(z | x) = N(mu, diag sigma^2). The decoder needs a sample z ~ q(z | x), and the loss
must send its gradient back through that sample to the encoder. Kingma & Welling (2014,
Section 2.4) write the sample as a function of mu and logvar and a noise eps that does
not depend on them:

    eps ~ N(0, I),    sigma = exp(logvar / 2),    z = mu + sigma * eps.

For a fixed eps, z is an ordinary differentiable function of (mu, logvar), and its
backward pass is the chain rule. eps is an input of ``forward`` (drawn by the caller),
so the checker can give every forward the same eps, as a gradient check must.

The forward pass is written for you: it keeps eps and sigma on the cache stack. Your
job: ``backward(grad_z)`` returns the pair ``(dL/dmu, dL/dlogvar)``, each of z's shape,
given grad_z = dL/dz.

Hint: how does z change when mu moves by a little? And when logvar does? Go through
sigma: dz/dsigma = eps, and dsigma/dlogvar = d exp(logvar / 2) / dlogvar (mind the 1/2).
Everything you need is in the cache; nothing has to be computed from logvar again.

Check your answer with  ``python -m minigan check-exercise reparameterisation``.
"""
import numpy as np

from minigan.layers import Layer


class Reparameterise(Layer):
    """z = mu + exp(logvar / 2) * eps with eps given; no parameters."""

    def forward(self, mu, logvar, eps):
        sigma = np.exp(logvar / 2)
        z = mu + sigma * eps
        self._save(eps, sigma)
        return z

    def backward(self, grad_z):
        """Return (dL/dmu, dL/dlogvar), each of z's shape."""
        eps, sigma = self._load()
        # TODO: return dL/dmu, dL/dlogvar
        raise NotImplementedError("TODO: Reparameterise.backward -- return dL/dmu, dL/dlogvar")
