"""LightningDataModules. Single-domain batches are `(images, labels)`: images float NCHW in [-1, 1]."""

from genlab.data.base import Binarize, ImageTensorDataset, InMemoryImageDataModule
from genlab.data.celeba import CelebADataModule
from genlab.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from genlab.data.digits import DigitsDataModule
from genlab.data.disk import PreparedImageDataModule
from genlab.data.folder import ImageFolderDataModule
from genlab.data.mnist import MNISTDataModule
from genlab.data.textures import TexturesDataModule
from genlab.data.unpaired import UnpairedDataModule, UnpairedFolderDataModule

__all__ = [
    "Binarize",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "CelebADataModule",
    "DigitsDataModule",
    "ImageFolderDataModule",
    "ImageTensorDataset",
    "InMemoryImageDataModule",
    "MNISTDataModule",
    "PreparedImageDataModule",
    "TexturesDataModule",
    "UnpairedDataModule",
    "UnpairedFolderDataModule",
]
