"""Real-vs-real floors: every sample metric computed between two disjoint sets of real images.

A metric value alone does not say how close to real it is: FID is biased upwards by a term that
shrinks as 1/n, and the extractor, reference split and image size all move it. The floor is the
same metric, with the same extractor, reference split, KID subsets, precision/recall k and seed,
with real images that are not in the reference standing in for the generated ones: roughly what a
model that sampled the data distribution perfectly would score.

Which real images stand in:
1. the other held-out split (test for a val reference, val for a test reference) when the dataset
   has one with other images (digits: the 179 test images against the 179 of val). Held-out images
   are what a generalising model's samples resemble, and the default extractor (a classifier
   trained on the training split) has never seen them;
2. otherwise (MNIST, whose val and test are the same images; CycleGAN domains) two disjoint random
   halves of the reference (seed `metrics.seed`): MNIST t10k's 2,000 validation images give 1,000
   against 1,000.
The training split is never used: the classifier's features of images it was trained on differ
systematically (on digits, 179 training images score classifier FID 10.1 against val where the
179 test images score 5.0).

Sample-size bias: the floor compares as many images as the held-out sets have (digits: 179 vs
179; halves: n/2 vs n/2) while the model's metric compares `metrics.num_samples` generated images
with all n reference images. FID's bias grows as the sets shrink, so the floor reads higher than
a perfect model would at the model's protocol (digits halves: 89 vs 89 give 19.9 where 179 vs 179
gives 5.0): "within 2x of the floor" is easier than it sounds where the sets are small, and a
ratio below 1 is possible. KID is unbiased; its floor is near 0.

Floors depend only on the dataset, the reference and the protocol, so each is computed once and
cached next to the reference features (`<cache_dir>/reference/<dataset>-<split>-<extractor>-floor-<hash>.pt`).
Every rank computes it locally from features it already holds (no collectives); rank 0 caches it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.contracts import ImageData
from genlab.metrics import cache
from genlab.metrics.dist import rank_and_world
from genlab.metrics.streams import MetricStream

#: The metrics that get a `<key>_floor` (spreads such as kid_std do not).
FLOORED = ("fid", "kid_mean", "is_mean", "precision", "recall", "class_kl", "max_class_share", "min_class_share", "classes_below_half")
#: The held-out split whose images stand in for generated ones, per reference split.
PARTNERS = {"val": "test", "test": "val"}


def partner_split(datamodule: Any, reference: str) -> str | None:
    """The held-out split with other images than `reference`, or None."""
    partner, splits = PARTNERS.get(reference), datamodule.splits if isinstance(datamodule, ImageData) else {}
    if partner not in splits or reference not in splits:
        return None
    ours, theirs = datamodule.dataset(reference).images, datamodule.dataset(partner).images
    return None if ours.shape == theirs.shape and torch.equal(ours, theirs) else partner


def cached_floor(
    metrics: Any, datamodule: Any, reference: str, real: Tensor, real_logits: Tensor | None, device: Any
) -> tuple[dict[str, float], dict[str, Any]] | None:
    """({metric: floor}, floor protocol) for a SampleMetrics' protocol on a reference split whose
    features (and class logits) are `real`, from the cache or computed now; None when the
    reference is too small to halve for precision/recall's k-th neighbour."""
    partner = partner_split(datamodule, reference)
    if partner is None and len(real) // 2 <= metrics.precision_recall_k:
        return None
    protocol_key = {
        "stand_ins": partner or "halves",
        "num_real": len(real),
        "seed": metrics.seed,
        "kid": [metrics.kid_subsets, metrics.kid_subset_size],
        "k": metrics.precision_recall_k,
        "is_splits": metrics.is_splits,
        "coverage": real_logits is not None,
    }
    path = None
    if metrics.cache_dir is not None:
        name = f"{metrics.dataset_key}-{reference}-{metrics.extractor.key}-floor-{cache.config_hash(protocol_key)}.pt"
        path = metrics.cache_dir / "reference" / name
    if partner is not None:
        # Cached like any reference's features. Fetched before looking for the floor: it holds a
        # barrier, which every rank must reach whether or not it finds the floor cached.
        stream = MetricStream(partner, real=lambda: datamodule.dataset(partner).images, fake=None, num_fake=0)
        other, other_logits = metrics.reference(stream, device)
    saved = cache.load(path) if path is not None else None
    if saved is None:
        if partner is not None:
            reference_side, reference_logits = real, real_logits
            description = f"{len(real)} images of split '{reference}' against the {len(other)} of split '{partner}'"
        else:
            order = torch.randperm(len(real), generator=torch.Generator().manual_seed(metrics.seed))
            half = len(real) // 2
            a, b = order[:half], order[half : 2 * half]
            reference_side, other = real[a], real[b]
            reference_logits, other_logits = (real_logits[a], real_logits[b]) if real_logits is not None else (None, None)
            description = f"two disjoint random halves of split '{reference}' ({half} vs {half} images, seed {metrics.seed})"
        values = metrics.real_vs_real(reference_side, reference_logits, other, other_logits, device)
        saved = {
            "values": {k: v for k, v in values.items() if k in FLOORED},
            "description": description,
            "num_real": len(reference_side),
            "num_generated": len(other),
        }
        if path is not None and rank_and_world()[0] == 0:
            cache.save_atomic(saved, path)
    protocol = {"floor": f"real vs real: {saved['description']}", "num_real": saved["num_real"], "num_generated": saved["num_generated"]}
    return dict(saved["values"]), protocol
