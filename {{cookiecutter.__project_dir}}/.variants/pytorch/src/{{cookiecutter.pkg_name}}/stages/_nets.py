"""The networks (conf/model/), the LightningModule that trains them, and the saved model.

A network is any `torch.nn.Module` whose constructor takes `inputs` and `outputs` (the number
of features and of classes, or 1 for a regression) besides its own arguments from
conf/model/<name>.yaml. `Learner` trains it for the data's task; `load_model` turns the best
checkpoint back into a scikit-learn-like estimator, so `evaluate` scores it as any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning import LightningModule
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.pipeline import Pipeline
from torch import nn
from torch.nn import functional

from ..runtime import UsageError


class MLP(nn.Module):
    """A multi-layer perceptron: Linear, ReLU and dropout per hidden layer, then a Linear."""

    def __init__(self, inputs: int, outputs: int, hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        if min(hidden, default=1) < 1:  # values from conf/model/: a bad one told in one line
            raise UsageError(f"model.hidden: each layer needs 1 unit or more (got {list(hidden)})")
        if not 0 <= dropout < 1:
            raise UsageError(f"model.dropout must be at least 0 and below 1 (got {dropout})")
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(inputs, width), nn.ReLU(), nn.Dropout(dropout)]
            inputs = width
        self.layers = nn.Sequential(*layers, nn.Linear(inputs, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores per class (or the scaled prediction) for a batch of feature rows."""
        return self.layers(x)  # type: ignore[no-any-return]


def build_net(model: dict[str, Any], inputs: int, outputs: int) -> nn.Module:
    """The network of conf/model/<name>.yaml for `inputs` features and `outputs` scores."""
    if "_target_" not in model:
        raise UsageError("the model config has no _target_: name a torch.nn.Module class")
    try:
        net = instantiate(model, inputs=inputs, outputs=outputs)
    except InstantiationException as error:  # Hydra wraps what the network's class raised
        if isinstance(error.__cause__, UsageError):  # a bad value of its own: one line
            raise error.__cause__ from None
        raise
    if not isinstance(net, nn.Module):
        raise UsageError(f"{model['_target_']} is not a torch.nn.Module; see conf/model/")
    return net


class Learner(LightningModule):
    """Trains a network for a classification (cross-entropy) or a regression (MSE on the
    target scaled to mean 0 and deviation 1). Its hyper-parameters are plain values, so that a
    checkpoint loads under torch's `weights_only` default."""

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.save_hyperparameters()  # model, inputs, outputs, task, classes, scale, optimizer...
        self.net = build_net(dict(hparams["model"]), hparams["inputs"], hparams["outputs"])
        self._sums: dict[str, torch.Tensor] = {}  # per split: loss x rows, hits, rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for a batch of feature rows."""
        return self.net(x)  # type: ignore[no-any-return]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Dropout draws from torch's generator, seeded here at each epoch's first batch (Lightning
        # skips on_train_epoch_start for the first epoch after a resume): an epoch draws the
        # same numbers whether training ran straight through or resumed from a checkpoint.
        if batch_idx == 0:
            torch.manual_seed(self.hparams["seed"] + self.current_epoch)

    def _step(self, batch: Sequence[torch.Tensor], split: str) -> torch.Tensor:
        x, y = batch
        out = self(x)
        classes = self.hparams["task"] == "classification"
        loss = functional.cross_entropy(out, y) if classes else functional.mse_loss(out[:, 0], y)
        # Summed over the epoch here and logged once at its end: a self.log call per step
        # costs more than a small network's step.
        sums = self._sums.setdefault(split, torch.zeros(3, device=out.device))
        hits = (out.argmax(dim=1) == y).sum() if classes else 0
        sums += torch.stack([loss.detach() * len(y), torch.as_tensor(hits), torch.tensor(len(y))])
        return loss

    def training_step(self, batch: Sequence[torch.Tensor], index: int) -> torch.Tensor:
        """One optimizer step's loss."""
        return self._step(batch, "train")

    def validation_step(self, batch: Sequence[torch.Tensor], index: int) -> torch.Tensor:
        """The held-out rows' loss, summed with the epoch's."""
        return self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """The epoch's mean loss and score, of the training rows too (averaged over the DDP
        processes): validation runs after the epoch's last training step."""
        for split, (loss, hits, rows) in self._sums.items():
            self.log(f"{split}_loss", loss / rows, sync_dist=True)
            if self.hparams["task"] == "classification":
                self.log(f"{split}_accuracy", hits / rows, sync_dist=True)
            else:  # in the target's units
                rmse = (loss / rows).sqrt() * self.hparams["scale"][1]
                self.log(f"{split}_rmse", rmse, sync_dist=True)
        self._sums.clear()

    def configure_optimizers(self) -> Any:
        """The optimizer of train.optimizer; its step size decays to 0 along a cosine, a little
        at every step (so a checkpoint at an epoch's end holds the step size of what follows)."""
        optimizer = instantiate(self.hparams["optimizer"], params=self.parameters())
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffles the rows anew each epoch from the seed and the epoch number alone (Lightning calls
    `set_epoch`, after a resume too), so a resumed run sees the batches a straight run sees."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rows, self.seed, self.epoch = rows, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.rows, generator=generator).tolist())

    def __len__(self) -> int:
        return self.rows


class _Net(BaseEstimator):  # type: ignore[misc]
    """A trained network as a scikit-learn estimator, for a Pipeline after the preprocessing."""

    def __init__(self, learner: Learner) -> None:
        self.learner = learner.eval()

    def fit(self, x: Any, y: Any = None) -> _Net:
        """Already trained (by the train stage, with Lightning): left as it is."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _scores(self, x: Any) -> np.ndarray:
        with torch.no_grad():
            out = self.learner(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        return out.float().numpy()  # type: ignore[no-any-return]


class NetClassifier(ClassifierMixin, _Net):  # type: ignore[misc]
    """Predicts the class with the highest score; probabilities by softmax."""

    def __init__(self, learner: Learner) -> None:
        super().__init__(learner)
        self.classes_ = np.asarray(learner.hparams["classes"])

    def predict_proba(self, x: Any) -> np.ndarray:
        """Each class's probability per row."""
        scores = torch.as_tensor(self._scores(x))
        return torch.softmax(scores, dim=1).numpy()

    def predict(self, x: Any) -> np.ndarray:
        """The most likely class per row."""
        return self.classes_[self._scores(x).argmax(axis=1)]  # type: ignore[no-any-return]


class NetRegressor(RegressorMixin, _Net):  # type: ignore[misc]
    """Predicts the target in its own units."""

    def predict(self, x: Any) -> np.ndarray:
        """The prediction per row."""
        mean, deviation = self.learner.hparams["scale"]
        return self._scores(x)[:, 0] * deviation + mean  # type: ignore[no-any-return]


def load_learner(path: Path) -> Learner:
    """A checkpoint's network, loaded with `weights_only=True` (torch's default since 2.6)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    learner = Learner(**checkpoint["hyper_parameters"])
    learner.load_state_dict(checkpoint["state_dict"])
    return learner


def load_model(path: Path, preprocess: Any) -> Pipeline:
    """The best checkpoint after the fitted preprocessing: predicts from raw rows."""
    learner = load_learner(path)
    kind = NetClassifier if learner.hparams["task"] == "classification" else NetRegressor
    return Pipeline([("preprocess", preprocess), ("model", kind(learner))])
