"""LightningDataModules. Single-domain batches are `(images, labels)`: images float NCHW in [-1, 1]."""

from genlab.data.base import Binarize, ImageTensorDataset, InMemoryImageDataModule
from genlab.data.digits import DigitsDataModule
from genlab.data.mnist import MNISTDataModule
from genlab.data.textures import TexturesDataModule
from genlab.data.unpaired import UnpairedDataModule, UnpairedFolderDataModule

__all__ = [
    "Binarize",
    "DigitsDataModule",
    "ImageTensorDataset",
    "InMemoryImageDataModule",
    "MNISTDataModule",
    "TexturesDataModule",
    "UnpairedDataModule",
    "UnpairedFolderDataModule",
]
