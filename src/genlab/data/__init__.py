"""LightningDataModules. Single-domain batches are `(images, labels)`: images float NCHW in [-1, 1]."""

from genlab.data.base import Binarize, ImageTensorDataset, InMemoryImageDataModule
from genlab.data.digits import DigitsDataModule
from genlab.data.mnist import MNISTDataModule

__all__ = ["Binarize", "DigitsDataModule", "ImageTensorDataset", "InMemoryImageDataModule", "MNISTDataModule"]
