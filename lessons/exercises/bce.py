"""Exercise: the gradient of binary cross-entropy, taken from the logit.

D outputs a logit a; D(x) = sigma(a). For targets t in [0, 1] (1 for real
data, 0 for fakes; 0.9 with one-sided label smoothing) the mean loss over a
minibatch of m logits is

    CE = (1/m) sum_i  -[ t_i log sigma(a_i) + (1 - t_i) log(1 - sigma(a_i)) ]
       = (1/m) sum_i  t_i s(-a_i) + (1 - t_i) s(a_i),    s(a) = log(1 + e^a)

(the second line is the same number computed without ever taking log 0:
log sigma(a) = -s(-a) and log(1 - sigma(a)) = -s(a)). The discriminator's
loss in Algorithm 1 is CE(1, D(x)) + CE(0, D(G(z))) = -V(D, G).

The forward pass is written for you. Your job: ``backward(grad_out=1.0)``
returns dCE/da, an array of the logits' shape, times ``grad_out``.

Hint: ds(a)/da = sigma(a). Differentiate each term and simplify: the answer
is remarkably short, and one formula serves every t, 0, 1 or in between (work
it out for t = 1 and t = 0 first). Do not forget the 1/m of the mean.

Check your answer with  ``python -m minigan check-exercise bce``.
"""
import numpy as np

from minigan.layers import Layer


def softplus(a):
    """s(a) = log(1 + e^a), stable for every a."""
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


class BCEWithLogits(Layer):
    """Mean binary cross-entropy of targets t against sigma(logits); no parameters."""

    def forward(self, logits, target):
        t = np.broadcast_to(np.asarray(target, dtype=logits.dtype), logits.shape)
        loss = np.mean(t * softplus(-logits) + (1 - t) * softplus(logits))
        self._save(logits, t)
        return loss

    def backward(self, grad_out=1.0):
        """Return dL/dlogits = grad_out * dCE/dlogits (same shape as the logits)."""
        logits, t = self._load()
        m = logits.size        # the number of terms in the mean
        # TODO: return grad_out * dCE/da
        raise NotImplementedError("TODO: BCEWithLogits.backward -- return dCE/dlogits")
