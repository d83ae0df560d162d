"""Small builders shared by metric tests."""

from __future__ import annotations

from torch import Tensor

from genlab.images import from_uint8
from genlab.metrics import FeatureExtractor, MetricStream, SampleMetrics


def stream_of(real: Tensor, fake: Tensor, reference: str = "real") -> MetricStream:
    """A stream comparing fixed uint8 `fake` images with uint8 `real` ones."""
    return MetricStream(reference, real=lambda: real, fake=lambda idx, g: from_uint8(fake[idx]), num_fake=len(fake))


def genlab_metrics(extractor: FeatureExtractor, real: Tensor, fake: Tensor, **options) -> dict[str, float]:
    """genlab's sample metrics of `fake` against `real` (uint8 NCHW), no cache; 10 KID subsets
    (KID's 100 default subsets would dominate these tests' time)."""
    metrics = SampleMetrics(extractor, "test", num_samples=len(fake), batch_size=256, **{"kid_subsets": 10, **options})
    stream = stream_of(real, fake)
    return metrics.compute_stream(stream, metrics.reference_features(stream))
