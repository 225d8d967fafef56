"""The book's common/trainer.py: nnscratch's Trainer (ch. 6), which already takes the book's arguments."""
from __future__ import annotations

from typing import Any

from ... import training
from .optimizer import OPTIMIZERS


class Trainer(training.Trainer):
    """Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100, optimizer='SGD',
    optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None, verbose=True); ``train()``,
    ``train_acc_list``, ``test_acc_list``, ``train_loss_list``. Labels given as (N, 1) are flattened."""

    def __init__(self, network: Any, x_train: Any, t_train: Any, x_test: Any, t_test: Any, epochs: int = 20,
                 mini_batch_size: int = 100, optimizer: Any = "SGD", optimizer_param: dict | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, verbose: bool = True, **kwargs: Any) -> None:
        if isinstance(optimizer, str):
            optimizer = OPTIMIZERS[optimizer.lower()](**(optimizer_param or {"lr": 0.01}))
        super().__init__(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size, optimizer,
                         None, evaluate_sample_num_per_epoch, verbose, **kwargs)


__all__ = ["Trainer"]
