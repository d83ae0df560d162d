"""Callbacks: sample grids, checkpointing, exact resume, numeric faults, DDP weight checks, the progress bar."""

from genlab.callbacks.checkpoint import AtomicCheckpointIO, ModelCheckpoint
from genlab.callbacks.ddp_check import WeightSyncCheck
from genlab.callbacks.faults import FiniteLossCheck, NonFiniteLossError
from genlab.callbacks.metrics import SampleMetricsCallback
from genlab.callbacks.progress import progress_bar
from genlab.callbacks.resume import RNGStateCallback
from genlab.callbacks.samples import SampleGrid

__all__ = [
    "AtomicCheckpointIO",
    "FiniteLossCheck",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "RNGStateCallback",
    "SampleGrid",
    "SampleMetricsCallback",
    "WeightSyncCheck",
    "progress_bar",
]
