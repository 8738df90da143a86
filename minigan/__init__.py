"""minigan: GANs from scratch in NumPy/CuPy, every derivative by hand.

Modules follow the paper (Goodfellow et al. 2014): ``layers``, ``losses``,
``optim``, ``gan`` (Algorithm 1), ``theory`` (Proposition 1, Theorem 1),
``metrics`` (Parzen window), ``data``, ``backend``, ``gradcheck``, ``viz``,
``cli``.
"""
__version__ = "0.1.0"
