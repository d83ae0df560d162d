"""Why the discretized-logistic VAE on the digits (16 px) converges slowly: one variant per run.

    OMP_NUM_THREADS=1 python benchmarks/vae_convergence.py --steps 600 --variant base
    OMP_NUM_THREADS=1 python benchmarks/vae_convergence.py --steps 600 --variant global_log_scale

A plain loop over `model=vae` (Adam, batches of 64 drawn with a fixed generator, seed 42) that prints,
every 100 steps, the validation negative ELBO in bits/dim, its reconstruction and KL terms (nats), the
decoder's log-scale (mean and min over the validation pixels) and the encoder's mean log-variance;
then where the nats go (background pixels at -1 against the rest) and the decoder mean's error.
Extra Hydra overrides go after `--` (e.g. `-- model.lr=2e-3 model.latent_dim=32`). Variants change
only the initialisation or parametrisation of the likelihood parameters:

- `base`: as configured.
- `log_scale_init_-3`: the decoder's log-scale bias starts at -3 (scale 0.05 instead of 1).
- `logvar_init_-4`: the encoder's log-variance bias starts at -4.
- `global_log_scale`: one learned log-scale for every pixel (the log-scale weights held at zero, so
  only the bias learns): shows how far Adam moves one parameter per step (about lr).
- `log_scale_gain_3`: the decoder's log-scale output multiplied by 3 (moves 3x faster under Adam).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import Tensor, nn

from genlab.configs import compose_config, register_configs
from genlab.errors import instantiate
from genlab.train import build_model


def log_scale_bias(model: nn.Module, value: float) -> None:
    last = model.decoder.net[-1]
    with torch.no_grad():
        last.bias[last.out_channels // 2 :] = value


def logvar_bias(model: nn.Module, value: float) -> None:
    head = model.encoder.net[-1]
    with torch.no_grad():
        head.bias[head.out_features // 2 :] = value


def global_log_scale(model: nn.Module) -> None:
    last = model.decoder.net[-1]
    mask = torch.ones_like(last.weight)
    mask[last.out_channels // 2 :] = 0
    with torch.no_grad():
        last.weight.mul_(mask)
    last.weight.register_hook(lambda grad: grad * mask)


def log_scale_gain(model: nn.Module, gain: float) -> None:
    def scaled(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Tensor:
        mean, log_scale = out.chunk(2, 1)
        return torch.cat([mean, log_scale * gain], 1)

    model.decoder.net.register_forward_hook(scaled)


VARIANTS = {
    "base": lambda model: None,
    "log_scale_init_-3": lambda model: log_scale_bias(model, -3.0),
    "logvar_init_-4": lambda model: logvar_bias(model, -4.0),
    "global_log_scale": global_log_scale,
    "log_scale_gain_3": lambda model: log_scale_gain(model, 3.0),
}


@torch.no_grad()
def report(model: nn.Module, val: Tensor, step: int, started: float) -> None:
    model.eval()
    rec, kl = model.elbo_terms(val)
    mu, logvar = model.encode(val)
    log_scale = model.decode(mu).chunk(2, 1)[1]
    bpd = (rec + kl).mean().item() / (val[0].numel() * math.log(2))
    print(
        f"{step:5d} val nelbo {bpd:.3f} bpd, rec {rec.mean():.1f} kl {kl.mean():.1f} nats, "
        f"log-scale mean {log_scale.mean():.2f} min {log_scale.min():.2f}, logvar {logvar.mean():.2f}, "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    model.train()


@torch.no_grad()
def where_the_nats_go(model: nn.Module, val: Tensor) -> None:
    model.eval()
    params = model.decode(model.encode(val)[0])
    per_pixel = torch.stack(
        [
            model.likelihood.log_prob(val[..., i : i + 1, j : j + 1], params[..., i : i + 1, j : j + 1])
            for i in range(val.shape[-2])
            for j in range(val.shape[-1])
        ],
        1,
    ).neg()
    x = val.flatten(1)
    background = x < -0.999
    mean = params.chunk(2, 1)[0].flatten(1)
    print(
        f"background pixels {background.float().mean():.1%}: {per_pixel[background].mean():.2f} nats each; "
        f"the others {per_pixel[~background].mean():.2f} nats each "
        f"({per_pixel[~background].sum() / per_pixel.sum():.1%} of all); "
        f"|decoder mean - x| there: median {(mean - x)[~background].abs().median():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="base")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    register_configs()
    cfg = compose_config("train", ["model=vae", *args.overrides])
    torch.manual_seed(42)
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    model = build_model(cfg)
    VARIANTS[args.variant](model)
    optimizer = model.configure_optimizers()
    train = torch.cat([batch[0] for batch in datamodule.train_dataloader()])
    val = torch.cat([batch[0] for batch in datamodule.val_dataloader()])
    generator, started = torch.Generator().manual_seed(0), time.perf_counter()
    for step in range(args.steps + 1):
        if step % 100 == 0:
            report(model, val, step, started)
        loss, _ = model.training_terms(train[torch.randint(len(train), (64,), generator=generator)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    where_the_nats_go(model, val)


if __name__ == "__main__":
    main()
