"""genlab-export writes each family's sampling network; onnxruntime / torch.jit.load reproduce PyTorch's output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.checkpoint import load_model
from genlab.errors import ConfigError
from genlab.export import export, read_metadata, sampling_network
from tests.tasks.checkpoints import build, save

GAN = ["model=cgan", "dataset=digits", "model.generator.width=8", "model.discriminator.width=8"]
VAE = ["model=vae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]
CVAE = ["model=cvae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]
CYCLEGAN = ["model=cyclegan", "dataset=textures"]
SNGAN = ["model=sngan", "dataset=digits", "model.generator.width=8", "model.discriminator.width=8", "model.generator.num_classes=10"]


def export_cfg(compose_cfg, ckpt, fmt, out, *extra):
    return compose_cfg(f"ckpt_path={ckpt}", f"format={fmt}", f"out={out}", *extra, config_name="export")


def run_exported(path, fmt, inputs):
    if fmt == "torchscript":
        return torch.jit.load(str(path))(*inputs).detach().numpy()
    ort = pytest.importorskip("onnxruntime", reason="format=onnx is checked in onnxruntime: pip install 'genlab[export]'")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x.numpy() for name, x in zip(names, inputs)})[0]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("family", [GAN, SNGAN, VAE, CVAE, CYCLEGAN], ids=["cgan", "sngan", "vae", "cvae", "cyclegan"])
def test_exported_network_matches_pytorch_within_1e4_on_a_batch_size_it_was_not_traced_with(compose_cfg, tmp_path, fmt, family, one_thread):
    if fmt == "onnx":
        pytest.importorskip("onnx", reason="format=onnx needs the onnx package: pip install 'genlab[export]'")
    ckpt = save(build(compose_cfg, *family), tmp_path / "model.ckpt")
    out = export(export_cfg(compose_cfg, ckpt, fmt, tmp_path / f"net.{fmt}"))
    network = sampling_network(load_model(ckpt))
    # A batch of 5 (traced with 2): the batch axis is dynamic. Labels, when taken, span every class.
    inputs = tuple(torch.arange(5) % 10 if x.dtype == torch.long else torch.randn(5, *x.shape[1:]).clamp(-1, 1) for x in network.inputs)
    with torch.no_grad():
        expected = network.module.eval()(*inputs).numpy()
    got = run_exported(out, fmt, inputs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    meta = read_metadata(out)
    assert json.loads(meta["value_range"]) == [-1.0, 1.0]
    assert json.loads(meta["outputs"]) == ["images"]
    assert list(json.loads(meta["inputs"])) == network.input_names


def test_gan_export_writes_the_ema_generator_with_its_latent_size_and_labels(compose_cfg, tmp_path):
    model = build(compose_cfg, *GAN)
    with torch.no_grad():  # make the EMA copy differ from the raw generator
        for p in model.generator.parameters():
            p.add_(1.0)
    network = sampling_network(load_model(save(model, tmp_path / "g.ckpt")))
    assert network.module.net is not None and all(
        torch.equal(a, b) for a, b in zip(network.module.net.parameters(), model.generator_ema.module.parameters())
    )
    meta = network.metadata()
    assert meta["network"] == "EMA generator" and json.loads(meta["latent_dim"]) == 64 and json.loads(meta["num_classes"]) == 10
    assert network.input_names == ["z", "labels"]


def test_pixelrnn_export_is_refused_in_one_sentence_saying_why(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "experiment=pixelrnn_digits", "model.hidden=4", "model.layers=1"), tmp_path / "rnn.ckpt")
    with pytest.raises(ConfigError, match="loop of H\\*W\\*C steps"):
        export(export_cfg(compose_cfg, ckpt, "torchscript", tmp_path / "rnn.pt"))


def test_genlab_export_console_script_writes_the_file(cli, compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "vae.ckpt")
    result = cli("export", f"ckpt_path={ckpt}", "format=torchscript", f"out={tmp_path / 'dec.pt'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_metadata(tmp_path / "dec.pt")["family"] == "vae"


def test_an_unknown_format_is_refused_in_one_sentence(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "vae.ckpt")
    with pytest.raises(ConfigError, match="format=tflite: must be one of onnx, torchscript"):
        export(export_cfg(compose_cfg, ckpt, "tflite", tmp_path / "x"))


class _BatchAsConstant(torch.nn.Module):
    """Reads the batch size as a Python number, which tracing freezes (the bug check_exported catches)."""

    def forward(self, z):
        return torch.tanh(z.view(len(z), -1, 1, 1)).expand(len(z), z.shape[1], 2, 2).contiguous()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_file_that_only_runs_at_its_traced_batch_size_is_refused_and_removed(tmp_path, fmt):
    from pathlib import Path

    from genlab.export import WRITERS, SamplingNetwork, check_exported

    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="format=onnx is checked in onnxruntime: pip install 'genlab[export]'")
    network = SamplingNetwork(_BatchAsConstant(), (torch.randn(2, 4),), ["z"], ["images"], {"family": "test", "network": "net"})
    out = Path(tmp_path / f"net.{fmt}")
    WRITERS[fmt](network, out)
    with pytest.raises(ConfigError, match="does not run at batch size 3 .*use x.shape\\[0\\]"):
        check_exported(network, out, fmt)
    assert not out.exists()
