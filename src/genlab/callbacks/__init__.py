"""Callbacks: sample grids, checkpointing, DDP weight checks."""

from genlab.callbacks.checkpoint import ModelCheckpoint
from genlab.callbacks.ddp_check import WeightSyncCheck
from genlab.callbacks.metrics import SampleMetricsCallback
from genlab.callbacks.samples import SampleGrid

__all__ = ["ModelCheckpoint", "SampleGrid", "SampleMetricsCallback", "WeightSyncCheck"]
