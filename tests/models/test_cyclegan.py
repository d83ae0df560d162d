"""CycleGAN: training on unpaired folders and textures, the image pool, the LR schedule, resume,
sampling from the command line, the paper preset and DDP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from PIL import Image
from torch import Tensor, nn

from genlab.errors import ConfigError, instantiate
from genlab.models.cyclegan import CycleGAN, ImagePool, linear_decay
from genlab.train import build_model, instantiate_group

#: Tiny nets (fast on CPU) with the paper's structure: PatchGAN n_layers=3, all losses on.
TINY = [
    "model=cyclegan",
    "model.generator.width=4",
    "model.generator.n_blocks=1",
    "model.discriminator.width=4",
    "trainer=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    # FID & co. are the evaluation's tests; keep training tests independent of extractor training.
    "++callbacks.sample_metrics=null",
]


def folder_overrides(data_dir: Path) -> list[str]:
    return ["dataset=unpaired_folder", f"dataset.data_dir={data_dir}", "dataset.load_size=36", "dataset.crop_size=32", "dataset.batch_size=2"]


pytestmark = pytest.mark.usefixtures("one_thread")


class Record(pl.Callback):
    """Records, at the start of fit (after any resume) and of every epoch, what the tests check."""

    def __init__(self) -> None:
        self.start: dict = {}
        self.lrs: list[tuple[float, float]] = []

    def on_train_start(self, trainer: pl.Trainer, model: CycleGAN) -> None:
        self.start = {
            "global_step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "pools": {name: pool.state().clone() for name, pool in model.pools.items()},
            "scheduler_epochs": [s.last_epoch for s in model.lr_schedulers()],
            "lrs": [opt.param_groups[0]["lr"] for opt in model.optimizers()],
        }

    def on_train_epoch_start(self, trainer: pl.Trainer, model: CycleGAN) -> None:
        g, d = model.optimizers()
        self.lrs.append((g.param_groups[0]["lr"], d.param_groups[0]["lr"]))


def fit(cfg: DictConfig, *extra: pl.Callback, ckpt_path: str | None = None) -> tuple[pl.Trainer, CycleGAN]:
    """What genlab-train does, with extra callbacks (seeded like a run)."""
    pl.seed_everything(cfg.seed)
    datamodule = instantiate(cfg.dataset)
    model = build_model(cfg)
    trainer = instantiate(cfg.trainer, callbacks=[*instantiate_group(cfg.callbacks), *extra], logger=instantiate_group(cfg.logger))
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return trainer, model


# -- the image pool ---------------------------------------------------------------------------------
def test_pool_returns_history_images_about_half_the_time_once_full():
    torch.manual_seed(0)
    pool = ImagePool(size=10)
    first = torch.arange(10.0).view(10, 1, 1, 1)
    # Filling: every image is stored and returned as is.
    assert torch.equal(pool.query(first), first) and len(pool) == 10
    new = 100 + torch.arange(1000.0).view(1000, 1, 1, 1)
    out = pool.query(new)
    from_history = (out != new).flatten()
    assert 0.45 < from_history.float().mean() < 0.55  # 1000 draws: +-3 standard deviations
    # A history image is one that was stored before: an initial one or an earlier query's.
    assert all(v < 10 or (100 <= v < 100 + i) for i, v in enumerate(out.flatten().tolist()) if from_history[i])
    assert len(pool) == 10


def test_pool_of_size_zero_passes_images_through():
    images = torch.randn(4, 3, 8, 8)
    assert ImagePool(0).query(images) is images


# -- the learning-rate schedule ---------------------------------------------------------------------
def test_paper_schedule_is_constant_for_100_epochs_then_linear_to_zero():
    factor = linear_decay(n_epochs=100, n_epochs_decay=100)
    assert [factor(e) for e in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert factor(100) == pytest.approx(100 / 101) and factor(150) == pytest.approx(50 / 101)
    assert factor(199) == pytest.approx(1 / 101) and factor(200) == pytest.approx(0.0)


def test_training_steps_the_schedule_once_per_epoch(compose_cfg, unpaired_dir: Path):
    cfg = compose_cfg(
        *TINY,
        *folder_overrides(unpaired_dir),
        "model.n_epochs=2",
        "model.n_epochs_decay=3",
        "trainer.max_epochs=5",
        "+trainer.limit_train_batches=1",
        "trainer.limit_val_batches=0",
        "~callbacks",
    )
    record = Record()
    trainer, _ = fit(cfg, record)
    expected = [2e-4 * f for f in (1, 1, 3 / 4, 2 / 4, 1 / 4)]
    assert [g for g, _ in record.lrs] == pytest.approx(expected)
    assert [d for _, d in record.lrs] == pytest.approx(expected)
    assert trainer.global_step == 2 * 5  # one G and one D step per batch


class GeneratorGradNorm(pl.Callback):
    """The generators' joint gradient norm as their optimizer used it (kept until the next zero_grad)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_train_batch_end(self, trainer, model: CycleGAN, *args) -> None:
        grads = [p.grad for p in [*model.G_A.parameters(), *model.G_B.parameters()] if p.grad is not None]
        self.norms.append(torch.nn.utils.get_total_norm(grads).item())


def test_compile_channels_last_and_grad_clip_act_on_all_four_networks(compose_cfg, unpaired_dir: Path, eager_compile: list[str]):
    cfg = compose_cfg(
        *TINY,
        *folder_overrides(unpaired_dir),
        "model.compile=true",
        "model.channels_last=true",
        "model.grad_clip=1e-3",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "trainer.limit_val_batches=0",
        "~callbacks",
    )
    norms = GeneratorGradNorm()
    trainer, model = fit(cfg, norms)
    assert eager_compile == ["ResnetGenerator", "ResnetGenerator", "PatchDiscriminator", "PatchDiscriminator"]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    assert norms.norms == pytest.approx([1e-3, 1e-3], rel=1e-3)  # unclipped: ~100 (tiny nets, cycle weight 10)
    path = Path(cfg.paths.output_dir) / "last.ckpt"
    trainer.save_checkpoint(path)
    keys = list(torch.load(path, weights_only=True)["state_dict"])
    assert "G_A.net.1.weight" in keys and not any("_orig_mod" in key for key in keys)


# -- training on folders, sampling, resume ----------------------------------------------------------
def test_trains_on_an_unpaired_folder_and_logs_losses_and_grids(compose_cfg, unpaired_dir: Path, tmp_path: Path):
    cfg = compose_cfg(
        *TINY,
        *folder_overrides(unpaired_dir),
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
    )
    trainer, model = fit(cfg)
    assert trainer.global_step == 6
    logged = set(trainer.logged_metrics)
    assert {f"train/{name}" for name in CycleGAN.loss_names} <= logged and "val/cycle_l1" in logged
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/D_A", "train/G_B", "train/cycle_A", "train/idt_B"} <= set(header)
    for direction in ("AtoB", "BtoA"):
        grid = Image.open(tmp_path / "samples" / f"{direction}_epoch_000.png")
        # Two images per direction in the fixed batch (batch_size=2): rows of real, fake, rec, identity.
        assert grid.size == (4 * 34 + 2, 2 * 34 + 2)
    assert len(model.pools["A"]) == 6  # pool_size 50 not reached: every fake stored


def test_visuals_show_real_fake_reconstruction_and_identity_per_direction(compose_cfg, unpaired_dir: Path):
    cfg = compose_cfg(*TINY, *folder_overrides(unpaired_dir))
    model = build_model(cfg)
    a, b = torch.rand(16, 3, 32, 32) * 2 - 1, torch.rand(16, 3, 32, 32) * 2 - 1
    visuals = model.visuals((a, b))
    assert set(visuals) == {"AtoB", "BtoA"}
    quads = visuals["AtoB"].view(16, 4, 3, 32, 32)
    assert torch.equal(quads[:, 0], a)
    assert torch.allclose(quads[:, 1], model.translate(a, "AtoB"))
    assert torch.allclose(quads[:, 2], model.translate(model.translate(a, "AtoB"), "BtoA"))
    assert torch.allclose(quads[:, 3], model.translate(a, "BtoA"))  # G_B should leave A images alone
    # Without the identity loss the grid keeps its four columns (the identity images are still shown).
    model.lambda_identity = 0.0
    assert torch.equal(model.visuals((a, b))["AtoB"].view(16, 4, 3, 32, 32)[:, 3], quads[:, 3])


def test_resume_restores_pools_schedulers_and_step_counts(compose_cfg, unpaired_dir: Path, tmp_path: Path):
    common = [
        *TINY,
        *folder_overrides(unpaired_dir),
        "model.pool_size=3",
        "model.n_epochs=1",
        "model.n_epochs_decay=3",
        "+trainer.limit_train_batches=3",
        "trainer.limit_val_batches=0",
    ]
    first, _ = fit(compose_cfg(*common, "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'first'}"))
    ckpt_path = tmp_path / "first" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert first.global_step == ckpt["global_step"] == 2 * 2 * 3
    assert [len(s) for s in ckpt["image_pools"]["A"]] == [3]  # one rank, a full pool
    assert [s["last_epoch"] for s in ckpt["lr_schedulers"]] == [2, 2]

    record = Record()
    second, model = fit(compose_cfg(*common, "trainer.max_epochs=3", f"paths.output_dir={tmp_path / 'second'}"), record, ckpt_path=str(ckpt_path))
    start = record.start
    assert start["global_step"] == 12 and start["epoch"] == 2
    for name in ("A", "B"):
        assert torch.equal(start["pools"][name], ckpt["image_pools"][name][0])
    assert start["scheduler_epochs"] == [2, 2]
    assert start["lrs"] == pytest.approx([2e-4 * (1 - 2 / 4)] * 2)  # epoch 2 of 1 + 3: factor 1 - 2/4
    assert second.global_step == 18


def test_sample_and_eval_from_a_checkpoint(compose_cfg, cli, unpaired_dir: Path, tmp_path: Path):
    cfg = compose_cfg(
        *TINY,
        *folder_overrides(unpaired_dir),
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
        "trainer.limit_val_batches=0",
        f"paths.output_dir={tmp_path / 'run'}",
    )
    fit(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    result = cli(
        "sample", f"ckpt_path={ckpt}", "direction=BtoA", "num_samples=3", "batch_size=2", f"out={tmp_path / 'out'}", env={"OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(tmp_path / "out" / "samples.npz") as samples:
        assert set(samples.files) == {"images", "inputs", "reconstructions"}
        for key in samples.files:
            assert samples[key].shape == (3, 32, 32, 3) and samples[key].dtype == np.uint8
        inputs = samples["inputs"]
    # Inputs: the first test B images, centre-cropped as for evaluation.
    from genlab.data import UnpairedFolderDataModule
    from genlab.images import from_uint8, to_hwc_uint8

    dm = UnpairedFolderDataModule(str(unpaired_dir), load_size=36, crop_size=32)
    assert np.array_equal(inputs, to_hwc_uint8(dm.images("test", "B", 3)))
    # grid.png: input | translated | reconstructed, three triplets in one row.
    assert Image.open(tmp_path / "out" / "grid.png").size == (9 * 34 + 2, 34 + 2)

    # The same model run in-process on a folder of inputs (what `input=DIR` does).
    from genlab.checkpoint import load_model
    from genlab.data.unpaired import read_images

    model = load_model(ckpt)
    inputs = from_uint8(read_images(unpaired_dir / "testA", channels=3, size=32))
    outputs = model.generate(2, 8, direction="AtoB", inputs=inputs)
    assert outputs["images"].shape == outputs["reconstructions"].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError):
        model.generate(2, 8, direction="sideways")

    # genlab-eval (in-process): FID per direction and the cycle L1 on the test split.
    from genlab.eval import evaluate

    eval_cfg = compose_cfg(
        f"ckpt_path={ckpt}",
        "metrics.num_samples=4",
        "metrics.batch_size=4",
        "metrics.kid_subsets=2",
        "metrics.kid_subset_size=4",
        f"paths.output_dir={tmp_path / 'eval'}",
        config_name="eval",
    )
    results = evaluate(eval_cfg)
    assert {"test/fid_a2b", "test/fid_b2a", "test/cycle_l1"} <= set(results)
    assert 0 < results["test/cycle_l1"]["value"] < 2
    # Scored by the classifier extractor trained on the two domains, at the crop size.
    protocol = results["test/fid_a2b"]["protocol"]
    assert protocol["extractor"] == "classifier" and "image_size=32 px" in protocol["resizing"], protocol
    assert protocol["extractor_key"].startswith("classifier-unpairedfolder-32px-"), protocol


def test_metric_streams_compare_translations_with_the_other_domain(compose_cfg, unpaired_dir: Path):
    from genlab.images import to_uint8

    cfg = compose_cfg(*TINY, *folder_overrides(unpaired_dir))
    model, datamodule = build_model(cfg), instantiate(cfg.dataset)
    a2b, b2a = model.metric_streams(datamodule, "val", num_samples=100)
    assert (a2b.suffix, a2b.reference, a2b.num_fake) == ("_a2b", "testB", 4)  # validation = the test split
    assert torch.equal(a2b.real(), to_uint8(datamodule.images("test", "B")))
    fakes = a2b.fake(torch.tensor([2, 0]), torch.Generator())
    assert torch.allclose(fakes, model.translate(datamodule.images("test", "A", indices=[2, 0]), "AtoB"))
    assert (b2a.suffix, b2a.reference) == ("_b2a", "testA")


def test_unconditional_models_reject_translation_options(compose_cfg):
    gan = build_model(compose_cfg("model=gan"))
    with pytest.raises(ConfigError, match="direction: not used by GAN"):
        gan.generate(4, 4, direction="AtoB")
    assert gan.generate(3, 2)["images"].shape[0] == 3


# -- configuration ----------------------------------------------------------------------------------
def test_vanilla_loss_is_a_config_choice(compose_cfg):
    from genlab.losses import BCECriterion, LeastSquaresCriterion

    assert isinstance(build_model(compose_cfg(*TINY)).gan_loss, LeastSquaresCriterion)
    assert isinstance(build_model(compose_cfg(*TINY, "model/gan_loss=vanilla")).gan_loss, BCECriterion)


def test_textures_dataset_selects_its_tuned_recipe_and_other_data_keep_the_papers(compose_cfg):
    tuned = compose_cfg("model=cyclegan", "dataset=textures")
    assert tuned.model.generator.width == 16 and tuned.model.lr == 5e-4 and tuned.model.lambda_identity == 0
    assert tuned.model.generator.upsample == "resize"
    assert tuned.trainer.max_epochs == tuned.model.n_epochs + tuned.model.n_epochs_decay  # the LR ends at zero
    assert compose_cfg("experiment=cyclegan_textures").model == tuned.model  # the old name, the same recipe
    assert compose_cfg("model=cyclegan", "dataset=textures", "model.lr=1e-3").model.lr == 1e-3  # the command line wins
    for paper in (compose_cfg("model=cyclegan", "dataset=unpaired_folder"), compose_cfg("model=cyclegan", "dataset=textures", "~recipe")):
        assert paper.model.generator.width == 64 and paper.model.lr == 2e-4 and paper.model.lambda_identity == 0.5
        assert paper.model.generator.upsample == "transpose"


def test_resize_upsampling_keeps_a_flat_map_flat_where_transposed_convs_print_a_checkerboard():
    from genlab.nets.cyclegan import UPSAMPLERS, ResnetGenerator, init_normal

    torch.manual_seed(0)
    flat = torch.ones(1, 4, 8, 8)
    spread = {}
    for name, build in UPSAMPLERS.items():
        up = nn.Sequential(*build(4, 2))
        up.apply(init_normal)
        out = up(flat)[..., 2:-2, 2:-2]  # away from the borders
        assert out.shape[-1] == 12
        spread[name] = (out - out.mean((-2, -1), keepdim=True)).abs().max().item()
    assert spread["resize"] < 1e-6 < 1e-3 < spread["transpose"]
    with pytest.raises(ConfigError, match="model.generator.upsample='bilinear'"):
        ResnetGenerator(upsample="bilinear")


def test_horse2zebra_preset_has_paper_settings_and_runs_a_step(compose_cfg, unpaired_dir: Path):
    cfg = compose_cfg("experiment=cyclegan_horse2zebra")
    assert cfg.model.generator.n_blocks == 9 and cfg.model.generator.width == 64
    assert cfg.model.discriminator.n_layers == 3 and cfg.model.pool_size == 50
    assert (cfg.model.lambda_A, cfg.model.lambda_B, cfg.model.lambda_identity) == (10.0, 10.0, 0.5)
    assert cfg.model.lr == 2e-4 and list(cfg.model.optimizer_g.betas) == [0.5, 0.999]
    assert (cfg.model.n_epochs, cfg.model.n_epochs_decay, cfg.trainer.max_epochs) == (100, 100, 200)
    assert (cfg.dataset.load_size, cfg.dataset.crop_size, cfg.dataset.batch_size) == (286, 256, 1)
    assert cfg.model.gan_loss._target_.endswith("LeastSquaresCriterion")
    # One step of the full-size nets on the tiny fixture (32 px crops keep it quick on a CPU).
    cfg = compose_cfg(
        "experiment=cyclegan_horse2zebra",
        f"dataset.data_dir={unpaired_dir}",
        "dataset.load_size=36",
        "dataset.crop_size=32",
        "dataset.num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.fast_dev_run=1",
        "trainer.enable_progress_bar=false",
    )
    trainer, model = fit(cfg)
    assert trainer.global_step == 2
    assert all(torch.isfinite(trainer.logged_metrics[f"train/{name}"]) for name in CycleGAN.loss_names)


# -- learning something: grass -> gravel --------------------------------------------------------------
class DomainClassifier(nn.Module):
    """P(domain B | image) from local texture: three strided convs and global average pooling."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 32, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)

    @torch.no_grad()
    def p_b(self, x: Tensor) -> float:
        return torch.sigmoid(self(x)).mean().item()


def train_domain_classifier(real_a: Tensor, real_b: Tensor, steps: int = 400, seed: int = 0) -> DomainClassifier:
    """Fit on real crops only, with flips and a 'neither' class of noise and blur, so that generator
    artifacts (noise, smearing) cannot pass as gravel: they are pushed towards 1/2, not to B."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = DomainClassifier(real_a.shape[1])
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    x, y = torch.cat([real_a, real_b]), torch.cat([torch.zeros(len(real_a)), torch.ones(len(real_b))])
    for _ in range(steps):
        idx = torch.randint(len(x), (32,), generator=generator)
        batch = torch.where(torch.rand(32, 1, 1, 1, generator=generator) < 0.5, x[idx], x[idx].flip(-1))
        nuisance = torch.cat([torch.rand(4, *x.shape[1:], generator=generator) * 2 - 1, nn.functional.avg_pool2d(x[idx[:4]], 5, 1, 2)])
        logits = net(torch.cat([batch, nuisance]))
        targets = torch.cat([y[idx], torch.full((len(nuisance),), 0.5)])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def texture_figures(model: CycleGAN, datamodule) -> dict[str, float]:
    """The domain measure of test grass before/after translating (and of its reconstructions), and
    L1 distances in [-1, 1] units: the cycle's, and two baselines it must beat."""
    test_a, test_b = datamodule.images("test", "A"), datamodule.images("test", "B")
    classifier = train_domain_classifier(datamodule.images("train", "A"), datamodule.images("train", "B"))
    fake_b, rec_a = model.translate_and_back(test_a, "AtoB")
    distances = (rec_a[:, None] - test_a[None]).abs().mean((2, 3, 4))  # reconstruction i vs input j
    others = (test_a[:, None] - test_a[None]).abs().mean((2, 3, 4)) + torch.eye(len(test_a)) * 1e9
    return {
        "p_b_inputs": classifier.p_b(test_a),
        "p_b_translated": classifier.p_b(fake_b),
        "p_b_reconstructed": classifier.p_b(rec_a),
        "p_b_real_b": classifier.p_b(test_b),
        "cycle_l1": (rec_a - test_a).abs().mean().item(),
        # Baseline for "low": reconstructing each crop by its mean grey level keeps no structure.
        "flat_l1": (test_a - test_a.mean((-2, -1), keepdim=True)).abs().mean().item(),
        # Another grass crop is no reconstruction either: the mean distance to the nearest other one.
        "nearest_other_l1": others.min(1).values.mean().item(),
        # Does each reconstruction pick out its own input among all test crops?
        "retrieval": (distances.argmin(1) == torch.arange(len(test_a))).float().mean().item(),
        "change_l1": (fake_b - test_a).abs().mean().item(),
    }


TEXTURES = [
    "model=cyclegan",
    "dataset=textures",
    "trainer=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.limit_val_batches=0",
    "~callbacks",
    "~logger",
]


def test_textures_short_training_moves_grass_towards_gravel(compose_cfg):
    """A quick check of the learning signal (~1 CPU minute); the slow test below trains longer."""
    cfg = compose_cfg(
        *TEXTURES,
        "~recipe",  # the paper's settings under the tiny nets below, as this check was calibrated
        "model.generator.width=8",
        "model.generator.n_blocks=2",
        "model.discriminator.width=8",
        "dataset.batch_size=4",
        "model.lr=1e-3",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=100",
    )
    _, model = fit(cfg)
    figures = texture_figures(model, instantiate(cfg.dataset))
    print("textures (fast):", figures)
    assert figures["p_b_translated"] > figures["p_b_inputs"] + 0.3
    assert figures["cycle_l1"] < figures["flat_l1"]


@pytest.mark.slow
def test_textures_training_translates_grass_into_gravel(compose_cfg, tmp_path: Path):
    cfg = compose_cfg(*TEXTURES, "experiment=cyclegan_textures")  # 1,024 steps of batch 8
    started = time.perf_counter()
    _, model = fit(cfg)
    figures = texture_figures(model, instantiate(cfg.dataset))
    print(f"textures (slow): {figures}, {time.perf_counter() - started:.0f} s")
    assert figures["p_b_inputs"] < 0.2 and figures["p_b_real_b"] > 0.7  # the measure separates real domains
    assert figures["p_b_translated"] > 0.6  # translations look like gravel to it
    # The cycle holds: reconstructions are grass again, far closer to their inputs than a flat grey
    # crop or any other grass crop, and each is nearest to its own input.
    assert figures["p_b_reconstructed"] < 0.3
    assert figures["cycle_l1"] < 0.75 * figures["flat_l1"] and figures["cycle_l1"] < 0.6 * figures["nearest_other_l1"]
    assert figures["retrieval"] == 1.0


# -- data parallel ----------------------------------------------------------------------------------
def test_ddp_on_two_cpu_processes_keeps_all_four_networks_identical(cli, unpaired_dir: Path, tmp_path: Path):
    sync = tmp_path / "sync.json"
    result = cli(
        "train",
        *TINY[:4],
        TINY[-1],
        *folder_overrides(unpaired_dir),
        "trainer=ddp_cpu",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "model.pool_size=2",
        f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck",
        f"+callbacks.sync.path={sync}",
        env={"OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    digests = json.loads(sync.read_text())
    assert digests["world_size"] == 2
    # One digest over every parameter of G_A, G_B, D_A and D_B per rank.
    assert digests["parameters"][0] == digests["parameters"][1]
    assert digests["buffers"][0] == digests["buffers"][1]
    # Each rank kept its own pool; the checkpoint holds both, in rank order.
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    pools = ckpt["image_pools"]["A"]
    assert len(pools) == 2 and pools[0].shape == pools[1].shape == (2, 3, 32, 32)
    assert not torch.equal(pools[0], pools[1])
