"""genlab-export: write a checkpoint's sampling network as ONNX or TorchScript, with what it takes and
returns in the file's metadata (ONNX `metadata_props`; TorchScript `_extra_files["genlab.json"]`).

What is exported, per family (`SAMPLING_NETWORKS`, looked up along the model's class hierarchy):
- GAN: the EMA generator (the raw one when EMA is off), z [+ labels when conditional] -> images;
- VAE: the decoder followed by its likelihood's mean, z -> images (what genlab-sample shows);
- CycleGAN: the generator of one `direction`, images -> images;
- PixelRNN: refused. Sampling is a loop of H*W*C network evaluations, each depending on the pixels
  drawn before it; a single network file does not sample, and the loop is genlab's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from genlab.checkpoint import TRUSTED_TARGETS, load_model, read_checkpoint
from genlab.configs import check_ranges, config_dir
from genlab.errors import ConfigError, report_config_errors
from genlab.models.base import GenerativeModule

FORMATS = ("onnx", "torchscript")
VALUE_RANGE = [-1.0, 1.0]


@dataclass
class SamplingNetwork:
    """A network to export, example inputs to trace it with, and the metadata written beside it."""

    module: nn.Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    meta: dict[str, Any]

    def metadata(self) -> dict[str, str]:
        """String key -> string value (what ONNX metadata_props hold); nested values as JSON."""
        shapes = {name: ["N", *x.shape[1:]] for name, x in zip(self.input_names, self.inputs)}
        meta = {**self.meta, "inputs": json.dumps(shapes), "outputs": json.dumps(self.output_names), "value_range": json.dumps(VALUE_RANGE)}
        return {key: value if isinstance(value, str) else json.dumps(value) for key, value in meta.items()}


class _Generator(nn.Module):
    def __init__(self, net: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.net, self.conditional = net, conditional

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z, labels) if self.conditional else self.net(z)


class _DecoderMean(nn.Module):
    def __init__(self, decoder: nn.Module, likelihood: Any) -> None:
        super().__init__()
        self.decoder, self.likelihood = decoder, likelihood

    def forward(self, z: Tensor) -> Tensor:
        return self.likelihood.mean(self.decoder(z))


def gan_network(model: Any, direction: str | None) -> SamplingNetwork:
    net = model.generator_ema.module if model.generator_ema is not None else model.generator
    k, latent = int(model.num_classes), int(net.latent_dim)
    inputs: tuple[Tensor, ...] = (torch.randn(2, latent),) + ((torch.arange(2) % k,) if k else ())
    meta = {"family": "gan", "network": "EMA generator" if model.generator_ema is not None else "generator", "latent_dim": latent}
    meta |= {"latent_distribution": "standard normal", "num_classes": k}
    names = ["z", "labels"][: len(inputs)]
    return SamplingNetwork(_Generator(net, bool(k)), inputs, names, ["images"], meta)


def vae_network(model: Any, direction: str | None) -> SamplingNetwork:
    meta = {"family": "vae", "network": f"decoder + {type(model.likelihood).__name__} mean", "latent_dim": int(model.latent_dim)}
    meta |= {"latent_distribution": "standard normal", "num_classes": int(getattr(model, "num_classes", 0))}
    inputs: tuple[Tensor, ...] = (torch.randn(2, model.latent_dim),)
    if meta["num_classes"]:
        return SamplingNetwork(
            _ConditionalDecoderMean(model.decoder, model.likelihood),
            (*inputs, torch.arange(2) % meta["num_classes"]),
            ["z", "labels"],
            ["images"],
            meta,
        )
    return SamplingNetwork(_DecoderMean(model.decoder, model.likelihood), inputs, ["z"], ["images"], meta)


class _ConditionalDecoderMean(nn.Module):
    def __init__(self, decoder: nn.Module, likelihood: Any) -> None:
        super().__init__()
        self.decoder, self.likelihood = decoder, likelihood

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.likelihood.mean(self.decoder(z, labels))


def cyclegan_network(model: Any, direction: str | None) -> SamplingNetwork:
    direction = direction or "AtoB"
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"direction={direction}: must be AtoB or BtoA for a CycleGAN checkpoint")
    net, _ = model.generators(direction)
    dataset = (model.genlab_config or {}).get("dataset") or {}
    size, channels = int(dataset.get("crop_size") or dataset.get("image_size") or 64), int(dataset.get("channels", 3))
    meta = {"family": "cyclegan", "network": f"generator {direction}", "direction": direction, "input_range": json.dumps(VALUE_RANGE)}
    return SamplingNetwork(net, (torch.rand(2, channels, size, size) * 2 - 1,), ["images_in"], ["images"], meta)


def refuse_pixelrnn(model: Any, direction: str | None) -> SamplingNetwork:
    raise ConfigError(
        "genlab-export: a PixelRNN checkpoint has no single sampling network to export: it samples in a loop of "
        "H*W*C steps, each feeding the pixel just drawn back in; sample it with genlab-sample instead"
    )


#: Model class name -> the network genlab-export writes (matched along the class hierarchy, so a subclass
#: such as the conditional VAE inherits its parent's entry unless it has its own).
SAMPLING_NETWORKS: dict[str, Callable[[Any, str | None], SamplingNetwork]] = {
    "GAN": gan_network,
    "VAE": vae_network,
    "CycleGAN": cyclegan_network,
    "RNN": refuse_pixelrnn,
}


def sampling_network(model: GenerativeModule, direction: str | None = None) -> SamplingNetwork:
    for cls in type(model).__mro__:
        if cls.__name__ in SAMPLING_NETWORKS:
            return SAMPLING_NETWORKS[cls.__name__](model, direction)
    raise ConfigError(f"genlab-export: {type(model).__name__} models have no exportable sampling network (known: {', '.join(SAMPLING_NETWORKS)})")


def write_onnx(network: SamplingNetwork, out: Path) -> None:
    try:
        import onnx
    except ImportError:
        raise ConfigError("format=onnx needs the onnx package: pip install 'genlab[export]'") from None
    axes = {name: {0: "N"} for name in (*network.input_names, *network.output_names)}
    # dynamo=False: the TorchScript-based exporter needs no onnxscript and writes one self-contained file.
    torch.onnx.export(
        network.module, network.inputs, str(out), input_names=network.input_names, output_names=network.output_names, dynamic_axes=axes, dynamo=False
    )
    proto = onnx.load(str(out))
    for key, value in network.metadata().items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(out))


def write_torchscript(network: SamplingNetwork, out: Path) -> None:
    traced = torch.jit.trace(network.module, network.inputs)
    torch.jit.save(traced, str(out), _extra_files={"genlab.json": json.dumps(network.metadata())})


WRITERS: dict[str, Callable[[SamplingNetwork, Path], None]] = {"onnx": write_onnx, "torchscript": write_torchscript}


def run_exported(path: Path, fmt: str, inputs: tuple[Tensor, ...]) -> Tensor | None:
    """The exported file's output for `inputs` (None for ONNX when onnxruntime is not installed)."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))(*inputs)
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(session.run(None, feed)[0])


def check_exported(network: SamplingNetwork, path: Path, fmt: str, batch: int = 3) -> None:
    """Run the file on a batch size it was not traced with (2) against PyTorch: a network that reads
    its batch size as a Python number (`len(z)`) traces it as a constant, and the file would fail
    or be wrong for any other batch size."""
    inputs = tuple(
        torch.arange(batch) % max(1, int(network.meta.get("num_classes", 1)))
        if x.dtype == torch.long
        else torch.randn(batch, *x.shape[1:]).clamp(-1, 1)
        for x in network.inputs
    )
    expected = network.module(*inputs)
    try:
        got = run_exported(path, fmt, inputs)
    except Exception as err:  # noqa: BLE001 - any runtime failure means the same thing here
        got, reason = None, " ".join(str(err).split())[:200]
    else:
        reason = "" if got is None or torch.allclose(got, expected, atol=1e-4) else "its output differs from PyTorch's"
    if reason:
        path.unlink(missing_ok=True)
        raise ConfigError(
            f"genlab-export: the {fmt} file of the {network.meta.get('family')} {network.meta.get('network')} does not run at batch size {batch} ({reason}); "
            "its network likely reads the batch size as a Python number (len(x)) while tracing: use x.shape[0]"
        )


@torch.no_grad()
def export(cfg: DictConfig) -> Path:
    check_ranges(cfg)
    if cfg.format not in WRITERS:
        raise ConfigError(f"format={cfg.format}: must be one of {', '.join(FORMATS)}")
    allowed = (*TRUSTED_TARGETS, *cfg.trusted_targets)
    ckpt = read_checkpoint(cfg.ckpt_path, allowed)
    model = load_model(cfg.ckpt_path, allowed, ckpt)
    network = sampling_network(model, cfg.direction)
    network.module.eval()
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[cfg.format](network, out)
    check_exported(network, out, cfg.format)
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata genlab-export wrote into `path` (either format)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    files = {"genlab.json": ""}
    torch.jit.load(str(path), _extra_files=files)
    return json.loads(files["genlab.json"])


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
@report_config_errors
def main(cfg: DictConfig) -> None:
    print(f"genlab: wrote {export(cfg)}")


if __name__ == "__main__":
    main()
