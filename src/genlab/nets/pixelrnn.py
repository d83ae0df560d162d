"""PixelRNN with Row LSTM layers (van den Oord et al. 2016, "Pixel Recurrent Neural Networks").

The image is modelled autoregressively in raster order, and within a pixel channel by channel
(R, then G, then B): p(x) = prod_{i,j,c} p(x[i, j, c] | everything before it).

Architecture (paper, Table 4), with a residual stream of 2h feature maps:
    7x7 conv, mask A  ->  `layers` x Row LSTM (residual)  ->  (ReLU, 1x1 conv mask B) x 2  ->  logits
A Row LSTM layer computes, for row i, the LSTM gates from
    input-to-state:  a 1x3 conv along row i of the input map, masked (B) to the left and centre;
    state-to-state:  a width-3 conv over the previous row's hidden state h[i-1];
then h[i] (h maps) goes through a 1x1 masked conv back to 2h maps and is added to the input.

Per-channel masks: every feature map belongs to one colour group (contiguous chunks of the maps).
At the centre tap, mask A connects input group g to output group g' only if g < g', mask B if
g <= g'. So group g at (i, j) sees image channels < g there, and the logits for channel c come
from group c. Rows above are fully visible, which is why the state-to-state conv needs no mask.

Sampling carries the LSTM's row state: within row i, a pixel needs only its own column of every
layer, given h[i-1] and c[i-1] of the finished row (see `PixelRNN.sample`). A class-conditional
net adds a learned per-class bias to every layer and may sample with classifier-free guidance
(`guide`). The per-pixel output distributions live in genlab.nets.pixel_values.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nets.pixel_values import from_index, pixel_distribution, to_index

# -- masked convolutions ---------------------------------------------------------------------------
MaskType = Literal["A", "B"]  # A: the first layer (a pixel never sees itself); B: every later layer


def channel_groups(features: int, channels: int) -> Tensor:
    """Colour group of each of `features` maps: `channels` contiguous, near-equal chunks."""
    return torch.arange(features) * channels // features


def causal_mask(out_features: int, in_features: int, kernel: tuple[int, int], channels: int, mask_type: MaskType) -> Tensor:
    """out x in x kh x kw mask: taps above the centre row and left of the centre are open; at the
    centre, input group g feeds output group g' if g < g' (mask "A") or g <= g' (mask "B")."""
    kh, kw = kernel
    mask = torch.zeros(out_features, in_features, kh, kw)
    mask[:, :, : kh // 2] = 1
    mask[:, :, kh // 2, : kw // 2] = 1
    g_out = channel_groups(out_features, channels)[:, None]
    g_in = channel_groups(in_features, channels)[None, :]
    centre = g_in < g_out if mask_type == "A" else g_in <= g_out
    mask[:, :, kh // 2, kw // 2] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded conv whose weights are multiplied by a `causal_mask`.

    `out_blocks` > 1 lays the output out as that many blocks of the same groups (e.g. the four
    LSTM gates), so each block is masked like a conv with out_channels // out_blocks outputs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], channels: int, mask_type: MaskType, out_blocks: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        mask = causal_mask(out_channels // out_blocks, in_channels, kernel, channels, mask_type).repeat(out_blocks, 1, 1, 1)
        # Derived from the constructor arguments: not saved in checkpoints.
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)


# -- Row LSTM ---------------------------------------------------------------------------------------
class RowLSTM(nn.Module):
    """One residual Row LSTM layer on a 2h-map input; processes the image top to bottom."""

    def __init__(self, hidden: int, channels: int) -> None:
        super().__init__()
        self.hidden = hidden
        # Gates laid out as four blocks [input, forget, output, candidate] of h maps each.
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, (1, 3), channels, "B", out_blocks=4)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, padding=1)
        self.output = MaskedConv2d(hidden, 2 * hidden, (1, 1), channels, "B")
        # A forget-gate bias of 1 keeps the cell state flowing down the image early in training.
        with torch.no_grad():
            self.input_to_state.bias[hidden : 2 * hidden].fill_(1.0)

    def cell(self, gates: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
        """LSTM update; gates: N x 4h x ..., c_prev: N x h x ... -> (h, c)."""
        i, f, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x: Tensor, gate_bias: Tensor | None = None) -> Tensor:
        n, _, height, width = x.shape
        x_gates = self.input_to_state(x)  # the whole image at once: it only looks along each row
        if gate_bias is not None:  # class-conditional: one bias per image and gate map
            x_gates = x_gates + gate_bias[:, :, None, None]
        h = c = x.new_zeros(n, self.hidden, width)
        rows = []
        # unbind, not x_gates[:, :, i]: each indexing op's backward would zero-fill a whole-image
        # gradient (most of the training time on 28x28 images).
        for row_gates in x_gates.unbind(dim=2):
            h, c = self.cell(row_gates + self.state_to_state(h), c)
            rows.append(h)
        return x + self.output(torch.stack(rows, dim=2))


class PixelRNN(nn.Module):
    """Row LSTM PixelRNN: images in [-1, 1] (N x C x H x W) -> logits N x C x K x H x W.

    K = `distribution.logits_per_channel` (1 for Bernoulli, `levels` otherwise).
    """

    def __init__(
        self,
        channels: int = 1,
        levels: int = 256,
        hidden: int = 32,
        layers: int = 4,
        head_hidden: int | None = None,
        num_classes: int = 0,
        null_class: bool = False,
    ) -> None:
        super().__init__()
        head_hidden = head_hidden or 2 * hidden
        if min(hidden, head_hidden) < channels:
            raise ValueError(f"hidden={hidden} must be at least channels={channels} (one feature group per colour)")
        self.channels, self.levels, self.hidden = channels, levels, hidden
        self.distribution = pixel_distribution(levels)
        k = self.distribution.logits_per_channel
        self.first = MaskedConv2d(channels, 2 * hidden, (7, 7), channels, "A")
        self.layers = nn.ModuleList(RowLSTM(hidden, channels) for _ in range(layers))
        self.head = nn.ModuleList(
            [MaskedConv2d(2 * hidden, head_hidden, (1, 1), channels, "B"), MaskedConv2d(head_hidden, channels * k, (1, 1), channels, "B")]
        )
        # Class-conditional (as in conditional PixelCNN): a learned per-class bias on the first
        # layer's maps and on every Row LSTM layer's gates. A bias does not depend on any pixel, so
        # the masks' raster order is untouched.
        # `null_class`: one more embedding row, "no label" (index num_classes), for classifier-free
        # guidance: trained on images whose label was dropped, it gives p(x) beside p(x | class).
        self.num_classes = num_classes
        self.null_label = num_classes if num_classes and null_class else None
        rows = num_classes + int(self.null_label is not None)
        self.label_bias = nn.Embedding(rows, 2 * hidden) if num_classes else None
        self.gate_bias = nn.ModuleList(nn.Embedding(rows, 4 * hidden) for _ in range(layers)) if num_classes else None
        for embedding in [self.label_bias, *(self.gate_bias or [])]:
            if embedding is not None:
                nn.init.zeros_(embedding.weight)

    def biases(self, labels: Tensor | None) -> tuple[Tensor | None, list[Tensor | None]]:
        """(first-layer bias N x 2h, per-layer gate biases N x 4h) for `labels`; Nones when unconditional."""
        if self.label_bias is None or self.gate_bias is None:
            return None, [None] * len(self.layers)
        if labels is None:
            raise ValueError("a class-conditional PixelRNN needs labels")
        return self.label_bias(labels), [embedding(labels) for embedding in self.gate_bias]

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        first_bias, gate_biases = self.biases(labels)
        h = self.first(x)
        if first_bias is not None:
            h = h + first_bias[:, :, None, None]
        for layer, gate_bias in zip(self.layers, gate_biases):
            h = layer(h, gate_bias)
        for conv in self.head:
            h = conv(F.relu(h))
        n, _, height, width = h.shape
        return h.view(n, self.channels, -1, height, width)

    def log_prob(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Exact log p(x [| labels]) in nats per image (teacher forcing: one pass over the whole image)."""
        return self.distribution.log_prob(to_index(x, self.levels), self(x, labels))

    # -- sampling ---------------------------------------------------------------------------------
    # Classifier-free guidance (Ho & Salimans 2022; for autoregressive models as in Parti): a guided
    # sampler runs the batch twice, [with its labels; with the null label], and draws each value
    # from logits_uncond + guidance * (logits_cond - logits_uncond), i.e. p(x|y)^w p(x)^(1-w)
    # renormalised per value. guidance 1 is the plain conditional model, 0 the unconditional one,
    # > 1 sharpens towards what distinguishes the class. Raw logits combine like log-probabilities:
    # each softmax's normaliser is a constant over the levels.
    def guided_labels(self, labels: Tensor | None, guidance: float) -> Tensor | None:
        """`labels` for an unguided draw; [labels; null labels] for a guided one."""
        if guidance == 1.0:
            return labels
        if self.null_label is None or labels is None:
            raise ValueError("guidance != 1 needs a class-conditional PixelRNN with a null class (trained with label dropout)")
        return torch.cat([labels, torch.full_like(labels, self.null_label)])

    @staticmethod
    def guide(logits: Tensor, guidance: float) -> Tensor:
        """Logits of the guided draw from those of a [conditional; unconditional] batch."""
        if guidance == 1.0:
            return logits
        conditional, unconditional = logits.chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    def _draw(self, logits: Tensor, u: Tensor, given: Tensor | None, known: Tensor | None, index: tuple[int, int, int]) -> Tensor:
        """Pixel `index` = (c, i, j): drawn from `logits` with `u`, or the given value where `known`."""
        value = from_index(self.distribution.sample(logits, u[(slice(None), *index)]), self.levels)
        if given is None or known is None:
            return value
        return torch.where(known[(slice(None), *index)], given[(slice(None), *index)].to(value.dtype), value)

    @torch.no_grad()
    def sample_naive(
        self, u: Tensor, given: Tensor | None = None, known: Tensor | None = None, labels: Tensor | None = None, guidance: float = 1.0
    ) -> Tensor:
        """Reference sampler: the full network over the whole canvas for every pixel and channel.

        u: N x C x H x W uniforms in [0, 1) (the random draws); returns images in [-1, 1].
        `given`/`known` (completion): pixels where the bool mask `known` is set are copied from
        `given` instead of drawn, so every later pixel in raster order is conditioned on them.
        `guidance`: classifier-free guidance (see `guide`); the canvas is then held twice.
        """
        n, channels, height, width = u.shape
        labels = self.guided_labels(labels, guidance)
        copies = 1 if guidance == 1.0 else 2
        x = u.new_zeros(n * copies, channels, height, width)
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    logits = self.guide(self(x, labels)[:, c, :, i, j], guidance)
                    x[:, c, i, j] = self._draw(logits, u, given, known, (c, i, j)).repeat(copies)
        return x[:n]

    @torch.no_grad()
    def sample(
        self, u: Tensor, given: Tensor | None = None, known: Tensor | None = None, labels: Tensor | None = None, guidance: float = 1.0
    ) -> Tensor:
        """Same draws as `sample_naive`, computing only pixel (i, j)'s column of every layer.

        Row i needs h[i-1], c[i-1] of each layer (kept from the finished row) and, along the row,
        each layer's input at (i, j-1) and (i, j) and the canvas in the 7x7 window above and left.
        `given`/`known`: as in `sample_naive`; `labels`: the classes of a class-conditional net;
        `guidance`: classifier-free guidance (see `guide`; the batch runs twice).
        """
        first_bias, gate_biases = self.biases(self.guided_labels(labels, guidance))
        copies = 1 if guidance == 1.0 else 2
        n, channels, height, width = u.shape
        rows = n * copies  # the batch the network runs on
        hid, k = self.hidden, self.distribution.logits_per_channel
        r = self.first.kernel_size[0] // 2
        canvas = u.new_zeros(rows, channels, height + 2 * r, width + 2 * r)  # zero padding as in the conv
        first_w = self.first.masked_weight()
        # Per layer: input-to-state taps at columns j-1 and j as one matrix (the j+1 tap is masked).
        i2s_w = [layer.input_to_state.masked_weight()[:, :, 0, :2].flatten(1) for layer in self.layers]
        out_w = [layer.output.masked_weight()[:, :, 0, 0] for layer in self.layers]
        head_w = [conv.masked_weight()[:, :, 0, 0] for conv in self.head]
        h_prev = [u.new_zeros(rows, hid, width) for _ in self.layers]
        c_prev = [u.new_zeros(rows, hid, width) for _ in self.layers]
        for i in range(height):
            state_gates = [layer.state_to_state(h) for layer, h in zip(self.layers, h_prev)]
            # Each layer's input along row i, with one zero column on the left for the j-1 tap.
            inputs = [u.new_zeros(rows, 2 * hid, width + 1) for _ in self.layers]
            h_row = [u.new_zeros(rows, hid, width) for _ in self.layers]
            c_row = [u.new_zeros(rows, hid, width) for _ in self.layers]
            for j in range(width):
                # Recompute the column once per channel: group c's maps see channels < c of (i, j).
                for c in range(channels):
                    window = canvas[:, :, i : i + 2 * r + 1, j : j + 2 * r + 1]
                    h = F.conv2d(window, first_w, self.first.bias).flatten(1)
                    if first_bias is not None:
                        h = h + first_bias
                    for li, layer in enumerate(self.layers):
                        inputs[li][:, :, j + 1] = h
                        gates = F.linear(inputs[li][:, :, j : j + 2].flatten(1), i2s_w[li], layer.input_to_state.bias)
                        if gate_biases[li] is not None:
                            gates = gates + gate_biases[li]
                        h_new, c_new = layer.cell(gates + state_gates[li][:, :, j], c_prev[li][:, :, j])
                        h_row[li][:, :, j], c_row[li][:, :, j] = h_new, c_new
                        h = h + F.linear(h_new, out_w[li], layer.output.bias)
                    for w, conv in zip(head_w, self.head):
                        h = F.linear(F.relu(h), w, conv.bias)
                    logits = self.guide(h.view(rows, channels, k)[:, c], guidance)
                    canvas[:, c, i + r, j + r] = self._draw(logits, u, given, known, (c, i, j)).repeat(copies)
            h_prev, c_prev = h_row, c_row
        return canvas[:n, :, r : r + height, r : r + width].contiguous()
