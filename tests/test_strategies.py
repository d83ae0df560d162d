"""SeparateDDPStrategy: one DDP per network the model lists, a clean module everywhere else, and
2-process training (gloo) that keeps ranks identical and equals one process with the same global batch."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist
from pytorch_lightning.strategies import DDPStrategy
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genlab.strategies import NetDDP, SeparateDDPStrategy, enable_unused_parameter_detection
from genlab.train import build_model
from tests.ddp_runs import SYNC, final_state, two_processes_and_one

# Short, quiet runs of the plain GAN (no dataset recipe: DiffAugment draws differ per rank by design):
# no metrics, grids or monitor.
BARE = [
    "~recipe",
    "debug=limit",
    "trainer.max_epochs=1",
    "logger=[]",
    "callbacks.sample_metrics=null",
    "callbacks.sample_grid=null",
    "model.monitor=null",
    "trainer.enable_progress_bar=false",
]
# No batch statistics, and device-resident data so that global batches line up across runs.
NORM_FREE = ["model.discriminator.norm=null", "+model.generator.norm=null", "dataset.device_resident=true"]


@pytest.fixture
def process_group(tmp_path):
    """A one-process gloo group, enough to build DistributedDataParallel wrappers in-process."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def connected_strategy(model: nn.Module, **kwargs) -> SeparateDDPStrategy:
    strategy = SeparateDDPStrategy(parallel_devices=[torch.device("cpu")], **kwargs)
    strategy.connect(model)
    strategy.configure_ddp()
    return strategy


def test_each_listed_network_gets_its_own_ddp_only_during_the_training_step(compose_cfg, process_group):
    model = build_model(compose_cfg())
    keys = list(model.state_dict())
    strategy = connected_strategy(model)

    assert strategy.model is model  # the LightningModule itself stays unwrapped
    with strategy.wrapped_nets():
        assert isinstance(model.generator, NetDDP) and isinstance(model.discriminator, NetDDP)
        assert not isinstance(model.generator_ema, DistributedDataParallel)
        assert model.generator.latent_dim == 64  # attributes pass through the wrapper
        assert model.generator.find_unused_parameters is False and model.generator.broadcast_buffers is False
    assert type(model.generator).__name__ == "Generator" and type(model.discriminator).__name__ == "Discriminator"
    assert list(model.state_dict()) == keys  # checkpoints never see `module.`


def test_a_model_without_ddp_modules_gets_lightnings_whole_module_ddp(compose_cfg, process_group):
    model = build_model(compose_cfg("model=vae"))
    strategy = connected_strategy(model)
    assert isinstance(strategy.model, DistributedDataParallel) and strategy.model.module is model
    assert strategy.model.broadcast_buffers is True  # DDP's default, unlike the per-network wrappers


def test_plain_ddp_strings_get_unused_parameter_detection_but_the_separate_strategy_keeps_it_off():
    class FakeTrainer:
        def __init__(self, strategy):
            self.strategy = strategy

    plain, separate = DDPStrategy(), SeparateDDPStrategy()
    enable_unused_parameter_detection(FakeTrainer(plain))
    enable_unused_parameter_detection(FakeTrainer(separate))
    assert plain._ddp_kwargs["find_unused_parameters"] is True
    assert separate._ddp_kwargs["find_unused_parameters"] is False


def test_trainer_ddp_uses_the_separate_strategy_and_lightnings_strategies_stay_available(compose_cfg):
    assert compose_cfg("trainer=ddp").trainer.strategy._target_ == "genlab.strategies.SeparateDDPStrategy"
    assert compose_cfg("trainer=ddp_cpu", "trainer.strategy=ddp_find_unused_parameters_true").trainer.strategy == "ddp_find_unused_parameters_true"


def test_two_processes_match_one_process_with_the_same_global_batch(cli, tmp_path):
    """Norm-free G and D (no batch statistics): 2 ranks x 16 images == 1 process x 32 images.

    Two G+D steps of plain SGD with a large learning rate: the updates are big, and nothing (Adam's
    normalisation, LeakyReLU kinks over many steps) amplifies float summation-order noise."""
    sgd = [f"model.optimizer_{n}._target_=torch.optim.SGD" for n in "gd"] + [f"~model.optimizer_{n}.betas" for n in "gd"]
    args = [*BARE, *NORM_FREE, *sgd, "model.lr_g=0.05", "model.lr_d=0.05", "trainer.limit_train_batches=2"]
    distributed, single = two_processes_and_one(cli, tmp_path, args)
    for key, value in single.items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-5, atol=1e-7, msg=key)


def test_batchnorm_discriminator_trains_under_separate_ddp(cli, tmp_path):
    """DCGAN's BatchNorm D runs two forwards (real, fake) before one backward: no in-place error."""
    sync = tmp_path / "sync.json"
    result = cli(
        "train", *BARE, *SYNC, f"+callbacks.sync.path={sync}", "trainer=ddp_cpu", "dataset.batch_size=16", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["parameters"][0] == report["parameters"][1]
    assert not any(".module." in key for key in final_state(tmp_path / "run") if not key.startswith("generator_ema."))


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["model=wgan_gp", "trainer.limit_train_batches=10"],  # gradient penalty through the D wrapper
        [
            "model=cyclegan",
            "dataset=textures",
            "model.generator.n_blocks=1",
            "model.generator.width=8",
            "model.discriminator.width=8",
            "dataset.batch_size=2",
        ],  # four networks
        ["trainer.strategy=ddp_find_unused_parameters_true"],  # Lightning's strategy stays available
    ],
    ids=["wgan_gp", "cyclegan", "find_unused"],
)
def test_more_models_keep_ranks_identical_under_ddp(cli, tmp_path, args):
    sync = tmp_path / "sync.json"
    result = cli("train", *BARE, *SYNC, f"+callbacks.sync.path={sync}", "trainer=ddp_cpu", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["parameters"][0] == report["parameters"][1]
