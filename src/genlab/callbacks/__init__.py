"""Callbacks: sample grids, checkpointing, exact resume, numeric faults, early stopping, DDP weight checks, the progress bar."""

from genlab.callbacks.checkpoint import AtomicCheckpointIO, ModelCheckpoint
from genlab.callbacks.ddp_check import WeightSyncCheck
from genlab.callbacks.early_stopping import EarlyStopping
from genlab.callbacks.faults import FiniteLossCheck, NonFiniteLossError
from genlab.callbacks.metrics import SampleMetricsCallback
from genlab.callbacks.progress import progress_bar
from genlab.callbacks.resume import RNGStateCallback
from genlab.callbacks.samples import SampleGrid

__all__ = [
    "AtomicCheckpointIO",
    "EarlyStopping",
    "FiniteLossCheck",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "RNGStateCallback",
    "SampleGrid",
    "SampleMetricsCallback",
    "WeightSyncCheck",
    "progress_bar",
]
