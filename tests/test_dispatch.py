"""genlab.dispatch: Lightning's hooks reach the same callbacks, in the same order, as without it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning import Callback
from pytorch_lightning.trainer import call

from genlab import dispatch
from genlab.data import DigitsDataModule
from genlab.errors import instantiate
from genlab.models.gan import GAN
from genlab.train import build_model, instantiate_group

#: Every hook Lightning's loops call on callbacks.
HOOKS = [name for name, _ in inspect.getmembers(Callback, inspect.isfunction) if name.startswith("on_") or name in ("setup", "teardown")]


class Recorder(Callback):
    """Defines every hook; records each call and the module's `_current_fx_name` at that moment."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []


def _recording(name: str):
    def hook(self: Recorder, trainer: pl.Trainer, pl_module: pl.LightningModule, *args, **kwargs) -> None:
        self.calls.append((name, pl_module._current_fx_name))

    return hook


for _name in HOOKS:
    setattr(Recorder, _name, _recording(_name))


class BatchEnds(Callback):
    """Defines one hook only."""

    def __init__(self) -> None:
        self.count = 0

    def on_train_batch_end(self, *args) -> None:
        self.count += 1


def fit(compose_cfg, tmp_path: Path, name: str, *callbacks: Callback, profiler: str | None = None) -> pl.LightningModule:
    cfg = compose_cfg("debug=limit", "callbacks.sample_metrics=null", "model.monitor=null", f"paths.output_dir={tmp_path / name}")
    pl.seed_everything(0)
    model = build_model(cfg)
    trainer = instantiate(
        cfg.trainer, callbacks=[*instantiate_group(cfg.callbacks), *callbacks], logger=instantiate_group(cfg.logger), profiler=profiler
    )
    trainer.fit(model, datamodule=instantiate(cfg.dataset))
    return model


@pytest.fixture
def lightning_dispatch(monkeypatch: pytest.MonkeyPatch):
    """Lightning's own dispatch for the fits in a test (GenerativeModule.setup would install genlab's)."""
    monkeypatch.setattr(dispatch, "install", lambda: None)
    dispatch.uninstall()
    yield monkeypatch  # .undo(): genlab's again from the next fit on
    monkeypatch.undo()


def test_genlab_models_install_the_dispatch_when_they_train(compose_cfg, tmp_path):
    dispatch.uninstall()
    fit(compose_cfg, tmp_path, "run")
    assert call._call_callback_hooks is dispatch.call_callback_hooks
    assert call._call_lightning_module_hook is dispatch.call_module_hook


def test_a_fit_calls_the_same_hooks_and_trains_the_same_weights_as_lightnings_dispatch(compose_cfg, tmp_path, lightning_dispatch):
    lightning = Recorder()
    lightning_model = fit(compose_cfg, tmp_path, "lightning", lightning)
    assert call._call_callback_hooks is dispatch._lightning_callback_hooks
    lightning_dispatch.undo()
    genlab = Recorder()
    genlab_model = fit(compose_cfg, tmp_path, "genlab", genlab)
    assert call._call_callback_hooks is dispatch.call_callback_hooks
    assert len(lightning.calls) > 90 and genlab.calls == lightning.calls
    for (name, before), after in zip(lightning_model.state_dict().items(), genlab_model.state_dict().values(), strict=True):
        assert torch.equal(before, after), name


def test_callbacks_get_only_the_hooks_they_define():
    assert not dispatch.defines(Callback(), "on_train_batch_end")
    assert dispatch.defines(BatchEnds(), "on_train_batch_end") and not dispatch.defines(BatchEnds(), "on_train_batch_start")
    on_instance = Callback()
    on_instance.on_train_batch_start = lambda *args: None
    assert dispatch.defines(on_instance, "on_train_batch_start")
    assert all(dispatch.does_nothing(getattr(Callback, name)) for name in HOOKS)
    assert not dispatch.does_nothing(BatchEnds.on_train_batch_end)


def test_a_callback_added_during_the_fit_gets_its_hooks(compose_cfg, tmp_path):
    late = BatchEnds()

    class AddLate(Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if late not in trainer.callbacks:
                trainer.callbacks.append(late)

    fit(compose_cfg, tmp_path, "run", AddLate())
    assert late.count == 2 * 4  # debug=limit: two epochs of four batches


def test_with_a_profiler_lightnings_own_dispatch_profiles_every_callback(compose_cfg, tmp_path):
    model = fit(compose_cfg, tmp_path, "run", BatchEnds(), profiler="simple")
    profiled = set(model.trainer.profiler.recorded_durations)
    assert "[Callback]BatchEnds.on_train_batch_end" in profiled
    assert "[Callback]BatchEnds.on_before_backward" in profiled  # an empty hook: only Lightning's dispatch calls it
    assert "[LightningModule]GAN.training_step" in profiled or "[Strategy]SingleDeviceStrategy.training_step" in profiled


class OptimizerSteps(Callback):
    """Defines a hook that Lightning's optimizer-step wrapper calls."""

    def __init__(self) -> None:
        self.count = 0

    def on_before_optimizer_step(self, *args) -> None:
        self.count += 1


def test_direct_steps_train_the_same_weights_and_count_the_same_steps_as_lightnings_wrappers(compose_cfg, tmp_path, lightning_dispatch):
    lightning_model = fit(compose_cfg, tmp_path, "lightning")
    assert not lightning_model.__dict__.get("_direct_steps")  # Lightning's dispatch: manual_backward and LightningOptimizer.step
    lightning_dispatch.undo()
    genlab_model = fit(compose_cfg, tmp_path, "genlab")
    assert genlab_model.__dict__["_direct_steps"]  # the default callbacks define no step hooks
    lightning, genlab = lightning_model.trainer, genlab_model.trainer
    assert genlab.global_step == lightning.global_step == 2 * 2 * 4  # G and D steps, two epochs of four batches
    assert genlab.fit_loop.state_dict() == lightning.fit_loop.state_dict()  # what exact resume restores
    for (name, before), after in zip(lightning_model.state_dict().items(), genlab_model.state_dict().values(), strict=True):
        assert torch.equal(before, after), name
    for before, after in zip(lightning.optimizers, genlab.optimizers, strict=True):
        assert str(before.state_dict()) == str(after.state_dict())


def test_a_callback_with_a_step_hook_gets_every_step_and_turns_direct_steps_off(compose_cfg, tmp_path):
    steps = OptimizerSteps()
    model = fit(compose_cfg, tmp_path, "run", steps)
    assert not model.__dict__["_direct_steps"]
    assert steps.count == model.trainer.global_step == 16


def test_direct_steps_need_one_device_no_gradient_scaler_and_no_clipping(compose_cfg):
    model = build_model(compose_cfg("model.grad_clip=1.0"))
    assert not model.step_hooks_inert()  # clipping runs in on_before_optimizer_step
    dispatch.install()
    assert dispatch.direct_steps_allowed(pl.Trainer(accelerator="cpu", logger=False, precision="bf16-mixed"))
    assert not dispatch.direct_steps_allowed(pl.Trainer(accelerator="cpu", logger=False, strategy="ddp", devices=2))
    assert not dispatch.direct_steps_allowed(pl.Trainer(accelerator="cpu", logger=False, profiler="simple"))


def test_tuples_and_lists_of_tensors_reach_the_device_as_lightnings_default_hook_moves_them():
    x, y = torch.zeros(2, 1, 4, 4), torch.arange(2)
    cpu = torch.device("cpu")
    for batch in ((x, y), [x, y]):
        moved = dispatch.move_batch(batch, cpu)
        expected = pl.LightningModule().transfer_batch_to_device(batch, cpu, 0)
        assert type(moved) is type(expected) and all(a is b for a, b in zip(moved, expected, strict=True))
    assert dispatch.move_batch({"images": x}, cpu) is None  # anything else is Lightning's to move
    assert dispatch.move_batch((x, [y]), cpu) is None


class CountingDataHooks:
    """Overrides a data hook of the datamodule or module it is mixed into, counting its calls."""

    calls = 0

    def on_after_batch_transfer(self, batch, dataloader_idx):
        type(self).calls += 1
        return batch


class CountingDigits(CountingDataHooks, DigitsDataModule):
    calls = 0


class CountingGAN(CountingDataHooks, GAN):
    calls = 0


def test_a_data_hook_overridden_on_the_datamodule_or_the_module_runs_on_every_batch(compose_cfg, tmp_path):
    def fit_with(*overrides: str) -> pl.LightningModule:
        cfg = compose_cfg("debug=limit", "callbacks.sample_metrics=null", "model.monitor=null", f"paths.output_dir={tmp_path}", *overrides)
        model = build_model(cfg)
        instantiate(cfg.trainer, callbacks=instantiate_group(cfg.callbacks), logger=False).fit(model, datamodule=instantiate(cfg.dataset))
        return model

    assert fit_with().__dict__["_batch_hooks_inert"]
    # debug=limit: two epochs of four training batches, and the sanity check's validation batch (no
    # callback here needs a fit validation: genlab.dispatch.validation_needed)
    batches = 2 * 4 + 1
    for counting, override in (
        (CountingDigits, "dataset._target_=tests.test_dispatch.CountingDigits"),
        (CountingGAN, "model._target_=tests.test_dispatch.CountingGAN"),
    ):
        assert not fit_with(override).__dict__["_batch_hooks_inert"]
        assert counting.calls == batches, override


def test_lightning_reads_a_stored_signature_of_training_step():
    from pytorch_lightning.utilities.signature_utils import is_param_in_hook_signature

    assert GAN.training_step.__signature__ == inspect.signature(GAN.training_step)
    assert is_param_in_hook_signature(GAN.training_step, "batch_idx", min_args=2)
