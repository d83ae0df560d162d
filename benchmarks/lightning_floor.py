"""What Lightning's manual-optimization loop costs by itself, per batch (issue 17).

A module with two one-weight Linear layers and SGD trains on a TensorDataset (1,440 rows, batches
of 16) three ways, interleaved: `empty` (training_step returns at once: the fit loop, the data
fetcher and the hooks around each batch), `raw` (two backward + step pairs as `loss.backward()` and
the optimizer's own `step()`), `lightning` (the same through `manual_backward` and
`LightningOptimizer.step`). Steady state as in overhead.py (from the second epoch on), one thread.

    python benchmarks/lightning_floor.py [--lightning-dispatch] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from genlab import dispatch
from overhead import Timer, bare_trainer


class TwoSteps(pl.LightningModule):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.mode = mode
        self.a, self.b = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.SGD(self.a.parameters(), lr=0.0), torch.optim.SGD(self.b.parameters(), lr=0.0)]

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        if self.mode == "empty":
            return
        wrapped = self.mode == "lightning"
        for opt, net in zip(self.optimizers(use_pl_optimizer=wrapped), (self.a, self.b), strict=True):
            loss = net(batch[0]).sum()
            opt.zero_grad()
            self.manual_backward(loss) if wrapped else loss.backward()
            opt.step()


def seconds_per_batch(mode: str, data: DataLoader) -> float:
    timer = Timer()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = bare_trainer(0, timer, tmp, max_epochs=6)  # `empty` makes no optimizer steps
        trainer.fit(TwoSteps(mode), data)
    return timer.seconds_per_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lightning-dispatch", action="store_true", help="Lightning's hook dispatch instead of genlab.dispatch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = DataLoader(TensorDataset(torch.zeros(16 * 90, 1)), batch_size=16, shuffle=True)
    (dispatch.uninstall if args.lightning_dispatch else dispatch.install)()
    results: dict[str, list[float]] = {"empty": [], "raw": [], "lightning": []}
    for _ in range(args.repeats):
        for mode in results:
            results[mode].append(seconds_per_batch(mode, data))
    for mode, values in results.items():
        print(f"{mode:10s} best {min(values) * 1e6:7.1f} us/batch  runs " + ", ".join(f"{v * 1e6:.0f}" for v in values))


if __name__ == "__main__":
    main()
