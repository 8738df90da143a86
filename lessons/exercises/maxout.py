"""Exercise: the backward pass of a maxout layer (Goodfellow et al. 2013),
the unit of the paper's MNIST discriminator.

    z = x W + b                  W: (n_in, units * pieces), b: (units * pieces,)
    z is viewed as (m, units, pieces): the pieces of unit u are the
    consecutive columns u*pieces, ..., u*pieces + pieces - 1
    y_u = max_p z_{u,p}          y: (m, units)

The forward pass is written for you; it keeps x and the index of the
winning piece of every unit. Your job, in ``backward(grad_out)``:

1. route dL/dy_u to the winning piece only:
       dL/dz_{u,p} = dL/dy_u if p is the winner of unit u, else 0
   (build an (m, units, pieces) array, then reshape it to (m, units * pieces));
2. from dL/dz, exactly as in the Linear exercise: ADD dL/dW = x^T dL/dz and
   dL/db = sum over the batch of dL/dz into ``self.grads``; return
   dL/dx = dL/dz W^T.

At a tie between pieces the max has a kink; the checker draws inputs with a
clear winner (lesson 02 explains why).

Check your answer with  ``python -m minigan check-exercise maxout``.
"""
import numpy as np

from minigan.layers import Layer


class Maxout(Layer):
    """y_u = max over p of (x W + b)_{u,p}."""

    def __init__(self, n_in, units, pieces, irange=0.5, rng=None):
        super().__init__()
        self.units, self.pieces = units, pieces
        rng = np.random.default_rng(rng)
        self._add_param("W", rng.uniform(-irange, irange, size=(n_in, units * pieces)))
        self._add_param("b", rng.uniform(-irange, irange, size=units * pieces))

    def forward(self, x):
        m = x.shape[0]
        z = (x @ self.params["W"] + self.params["b"]).reshape(m, self.units, self.pieces)
        winner = z.argmax(axis=2)                                  # (m, units)
        self._save(x, winner)
        return np.take_along_axis(z, winner[..., None], axis=2)[..., 0]

    def backward(self, grad_out, *, input_grad=True):
        """Accumulate dL/dW, dL/db into self.grads; return dL/dx."""
        x, winner = self._load()
        m = x.shape[0]
        W = self.params["W"]
        # TODO: grad_z = zeros of shape (m, units, pieces), dL/dy placed at the winners
        # TODO: reshape grad_z to (m, units * pieces)
        # TODO: self.grads["W"] += ...;  self.grads["b"] += ...
        # TODO: return dL/dx
        raise NotImplementedError("TODO: Maxout.backward -- route dL/dy to the winners, then as Linear")
