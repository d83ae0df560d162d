"""Sample-quality measures for tests that need no downloaded network: fitted on real digits in seconds.

- `digits_score`: Inception-Score-like exp(E[KL(p(y|x) || p(y))]) with a logistic-regression digit
  classifier: high when samples are confidently classified AND cover all classes (real digits ~ 8-9,
  noise or mode-collapsed samples ~ 1-2).
- `pca_frechet`: Frechet distance between Gaussians fitted to real and generated images in the
  space of the real data's top principal components.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from torch import Tensor


class DigitsJudge:
    """Fitted once on real images (float NCHW in [-1, 1]) with labels."""

    def __init__(self, images: Tensor, labels: Tensor, n_components: int = 20) -> None:
        x = images.flatten(1).numpy()
        self.classifier = LogisticRegression(max_iter=2000, C=0.5).fit(x, labels.numpy())
        self.pca = PCA(n_components=n_components, random_state=0).fit(x)
        feats = self.pca.transform(x)
        self.mu, self.cov = feats.mean(0), np.cov(feats, rowvar=False)

    def digits_score(self, images: Tensor) -> float:
        p = self.classifier.predict_proba(images.flatten(1).numpy())
        py = p.mean(0, keepdims=True)
        kl = (p * (np.log(p + 1e-12) - np.log(py + 1e-12))).sum(1).mean()
        return float(np.exp(kl))

    def pca_frechet(self, images: Tensor) -> float:
        feats = self.pca.transform(images.flatten(1).numpy())
        mu, cov = feats.mean(0), np.cov(feats, rowvar=False)
        covmean = linalg.sqrtm(self.cov @ cov).real
        return float(((self.mu - mu) ** 2).sum() + np.trace(self.cov + cov - 2 * covmean))


def judge_for(datamodule) -> DigitsJudge:
    """A judge fitted on the datamodule's training split."""
    datamodule.setup()
    images, labels = datamodule.dataset("train").__getitems__(list(range(len(datamodule.dataset("train")))))
    return DigitsJudge(images, labels)


def seeded_samples(model, n: int = 500, seed: int = 0) -> Tensor:
    torch.manual_seed(seed)
    return model.sample(n, generator=torch.Generator().manual_seed(seed)).cpu()
