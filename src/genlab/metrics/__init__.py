"""Sample metrics (FID, KID, IS, improved precision/recall) on torchmetrics with offline feature extractors.

See docs/metrics.md for the extractors (classifier, inception, random_cnn) and the protocol stored
with every number.
"""

from genlab.metrics.cache import dataset_key
from genlab.metrics.classifier import ClassifierFeatures, RandomCNNFeatures
from genlab.metrics.evaluator import SampleMetrics, build_extractor
from genlab.metrics.extractors import ExtractorSpec, FeatureExtractor, Precomputed
from genlab.metrics.inception import InceptionFeatures
from genlab.metrics.precision_recall import ImprovedPrecisionRecall
from genlab.metrics.streams import MetricStream

__all__ = [
    "ClassifierFeatures",
    "ExtractorSpec",
    "FeatureExtractor",
    "ImprovedPrecisionRecall",
    "InceptionFeatures",
    "MetricStream",
    "Precomputed",
    "RandomCNNFeatures",
    "SampleMetrics",
    "build_extractor",
    "dataset_key",
]
