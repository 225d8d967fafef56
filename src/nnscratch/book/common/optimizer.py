"""The book's common/optimizer.py: nnscratch's update rules (ch. 6.1) with the book's signatures.

The book also steps plain Python numbers (ch06/optimizer_compare_naive.py: ``{'x': -7.0, 'y': 2.0}``),
which cannot change in place: those are stepped as 0-d float64 arrays and written back into the dict.
"""
from __future__ import annotations

from typing import Any, MutableMapping

import numpy as np

from ... import optimizers as opt


class BookOptimizer(opt.Optimizer):
    """``update(params, grads)`` over arrays (in place) and Python floats (replaced in ``params``)."""

    def update(self, params: MutableMapping[str, Any], grads: MutableMapping[str, Any]) -> None:  # type: ignore[override]
        numbers = [k for k, v in params.items() if not (isinstance(v, np.ndarray) and v.dtype.kind == "f")]
        if not numbers:
            return super().update(params, grads)
        boxed = {k: (np.array(v, dtype=np.float64) if k in numbers else v) for k, v in params.items()}
        g = {k: (np.asarray(v, dtype=np.float64) if k in numbers else v) for k, v in grads.items()}
        super().update(boxed, g)
        for k in numbers:
            params[k] = boxed[k].item() if boxed[k].ndim == 0 else boxed[k]


class SGD(BookOptimizer, opt.SGD):
    """SGD(lr=0.01): W <- W - lr dL/dW (ch. 6.1.2)."""


class Momentum(BookOptimizer, opt.Momentum):
    """Momentum(lr=0.01, momentum=0.9) (ch. 6.1.4)."""


class Nesterov(BookOptimizer, opt.Nesterov):
    """Nesterov(lr=0.01, momentum=0.9) (ch. 6.1, the book's extra)."""


class AdaGrad(BookOptimizer, opt.AdaGrad):
    """AdaGrad(lr=0.01) (ch. 6.1.5)."""


class RMSprop(BookOptimizer, opt.RMSprop):
    """RMSprop(lr=0.01, decay_rate=0.99) (ch. 6.1, the book's extra)."""


class Adam(BookOptimizer, opt.Adam):
    """Adam(lr=0.001, beta1=0.9, beta2=0.999) (ch. 6.1.6)."""


#: the names the book's Trainer accepts (its 'rmsprpo' typo included)
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprpo": RMSprop,
              "rmsprop": RMSprop, "adam": Adam}

# no __all__: `from common.optimizer import *` gives the book's readers np as well, as the book's module does
