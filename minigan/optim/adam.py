"""Adam (Kingma & Ba 2015)."""
from __future__ import annotations

from .base import Optimizer, _positive

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
    theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).
    Defaults lr 2e-4, beta1 0.5 are the usual GAN choice (DCGAN).
    """

    slots = ("m", "s")
    SETTINGS = ("lr", "beta1", "beta2", "eps")

    def __init__(self, model, lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8):
        super().__init__(model)
        self.lr = _positive("Adam lr", lr)
        self.beta1 = _positive("Adam beta1", beta1, allow_zero=True)
        self.beta2 = _positive("Adam beta2", beta2, allow_zero=True)
        self.eps = _positive("Adam eps", eps)
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError(f"Adam needs beta1, beta2 < 1, got {beta1}, {beta2}")

    def step(self):
        self.t += 1
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        grads = self.model.grads
        for k, theta in self.model.params.items():
            g, m, s = grads[k], self.state["m"][k], self.state["s"][k]
            m *= self.beta1
            m += (1 - self.beta1) * g
            s *= self.beta2
            s += (1 - self.beta2) * (g * g)
            theta -= (self.lr / c1) * m / ((s / c2) ** 0.5 + self.eps)
            self._record(k, g, theta)

