"""PixelRNN (Row LSTM) trained by exact maximum likelihood with teacher forcing.

The likelihood is exact, so `val/nll` is the negative log-likelihood itself (no bound), in nats per
image; `val/bpd` divides it by C * H * W * ln 2. The network is genlab.nets.pixelrnn.PixelRNN.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated

import torch
from torch import Tensor

from genlab.contracts import ImageData
from genlab.errors import ConfigError
from genlab.models.base import evaluating
from genlab.models.likelihood import LikelihoodModule
from genlab.nets.pixelrnn import PixelRNN
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, POSITIVE, Range


class RNN(LikelihoodModule):
    """Autoregressive image model over `levels` values per channel (2: binarized data, Bernoulli).

    `hidden` and `layers` size the network (`net`, a partial of PixelRNN); `image_size` and
    `channels` are the shape `sample` draws.
    """

    def __init__(
        self,
        net: Callable[..., PixelRNN],
        optimizer: partial,
        image_size: Annotated[int, AT_LEAST_1] = 16,
        channels: Annotated[int, CHANNELS] = 1,
        levels: Annotated[int, Range(ge=2, le=256)] = 256,
        # h: each Row LSTM layer has h hidden maps; the residual stream between layers has 2h.
        hidden: Annotated[int, AT_LEAST_1] = 32,
        layers: Annotated[int, AT_LEAST_1] = 4,
        lr: Annotated[float, POSITIVE] = 1e-3,
        monitor: str | None = "val/nll",
        # > 0: class-conditional PixelRNN (a per-class bias in every layer); the dataset's classes.
        num_classes: Annotated[int, NON_NEGATIVE] = 0,
        # Conditional only. label_dropout: the fraction of training images whose label is replaced by
        # a learned "no label" class, so one net models p(x) beside p(x | class); guidance: the
        # classifier-free guidance scale its samples are drawn with (1: p(x | class) itself; > 1
        # needs label_dropout > 0). genlab-sample guidance=W changes it for a trained model.
        label_dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0,
        guidance: Annotated[float, NON_NEGATIVE] = 1.0,
    ) -> None:
        super().__init__(optimizer=optimizer, lr=lr, monitor=monitor)
        if label_dropout and not num_classes:
            raise ConfigError(f"model.label_dropout={label_dropout}: only a class-conditional PixelRNN drops labels; set model.num_classes")
        conditional = {"num_classes": num_classes, "null_class": label_dropout > 0} if num_classes else {}
        self.net = net(channels=channels, levels=levels, hidden=hidden, layers=layers, **conditional)
        self.image_size, self.channels, self.levels = image_size, channels, levels
        # num_classes > 0: class-conditional (a per-class bias in every layer); batch_labels holds the
        # labels of the batch being scored, since the likelihood terms take images only.
        self.num_classes, self.label_dropout = num_classes, label_dropout
        self.guidance = guidance
        self.batch_labels: Tensor | None = None

    @property
    def guidance(self) -> float:
        """The classifier-free guidance scale samples and completions are drawn with."""
        return self._guidance

    @guidance.setter
    def guidance(self, value: float) -> None:
        if value != 1.0 and self.net.null_label is None:  # the net has a null class only if conditional
            raise ConfigError(
                f"guidance={value}: classifier-free guidance needs a class-conditional PixelRNN trained with "
                "model.label_dropout > 0 (e.g. 0.1: its unconditional half); this one samples with guidance 1 only"
            )
        self._guidance = float(value)

    def setup(self, stage: str) -> None:
        # Fail at start-up, not after an epoch, if `levels` cannot represent the data.
        datamodule = self.trainer.datamodule
        if isinstance(datamodule, ImageData):
            check_levels(self.levels, datamodule)
        super().setup(stage)

    # -- likelihood (nats per image) ----------------------------------------------------------------
    def nll(self, x: Tensor) -> Tensor:
        """-log p(x) per image, exact (shape N); conditional: -log p(x | its label).

        Training with label_dropout: that fraction of the labels is the null class (-log p(x) there).
        """
        labels = self.batch_labels if self.num_classes else None
        if labels is not None and self.training and self.label_dropout:
            dropped = torch.rand(len(labels), device=labels.device) < self.label_dropout
            labels = torch.where(dropped, self.net.null_label, labels)
        return -self.net.log_prob(x, labels)

    def _labels(self, n: int, labels: Tensor | None) -> Tensor | None:
        """Conditional: `labels` (default 0..K-1 cycling) on this device; unconditional: None."""
        if not self.num_classes:
            return None
        return (torch.arange(n) % self.num_classes if labels is None else labels).to(self.device)

    # -- sampling -----------------------------------------------------------------------------------
    def _uniforms(self, n: int, generator: torch.Generator | None) -> Tensor:
        """The random draws of one sample: a uniform per pixel and channel (inverse-CDF sampling)."""
        shape = (n, self.channels, self.image_size, self.image_size)
        return torch.rand(shape, generator=generator).to(self.device, self.dtype)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """n images drawn pixel by pixel, carrying the Row LSTM state from row to row."""
        with evaluating(self.net):
            return self.net.sample(self._uniforms(n, generator), labels=self._labels(n, labels), guidance=self.guidance)

    @torch.no_grad()
    def complete(self, x: Tensor, known: Tensor, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """Draw the pixels where `known` (bool, x's shape) is False given the others, in raster order.

        Each missing pixel is drawn from p(pixel | every pixel before it in raster order), visible or
        already drawn. When every missing pixel comes after every visible one (the bottom rows, say)
        that is the exact conditional p(missing | visible); for other masks the visible pixels that
        come later in raster order are not conditioned on (the draw ignores them), only kept.
        Visible pixels come back unchanged. A class-conditional model needs each image's `labels`.
        """
        if self.num_classes and labels is None:
            raise ConfigError("task=complete: a class-conditional PixelRNN needs each image's class, which unlabelled inputs lack")
        with evaluating(self.net):
            u = self._uniforms(len(x), generator)
            labels = self._labels(len(x), labels)
            drawn = self.net.sample(u, given=x.to(self.device), known=known.to(self.device), labels=labels, guidance=self.guidance)
        return torch.where(known.to(drawn.device), x.to(drawn.device), drawn)

    @torch.no_grad()
    def sample_naive(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """The same draws as `sample`, re-running the whole network for every pixel (slow; for tests)."""
        with evaluating(self.net):
            return self.net.sample_naive(self._uniforms(n, generator), labels=self._labels(n, labels), guidance=self.guidance)


def check_levels(levels: int, datamodule: ImageData) -> None:
    """Raise ConfigError unless the training images take values on a `levels`-level grid."""
    if datamodule.binarize != "none":
        if levels != 2:
            raise ConfigError(f"model.levels={levels} does not match binarized data (dataset.binarize): use model.levels=2")
        return
    datamodule.setup()
    values = datamodule.splits["train"][0].unique().double()
    # A value is on the grid if mapping it to the nearest level and back gives it again.
    on_grid = torch.round(torch.round(values / 255 * (levels - 1)) * 255 / (levels - 1)) == values
    if not bool(on_grid.all()):
        raise ConfigError(
            f"model.levels={levels} does not match the data: its {len(values)} distinct pixel values "
            f"are not all on a {levels}-level grid (use model.levels=256 for 8-bit images)"
        )
