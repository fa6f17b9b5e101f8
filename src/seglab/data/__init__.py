"""Data sets and LightningDataModules."""

from seglab.data.ade20k import ADE20KDataModule
from seglab.data.camvid import CamVidDataModule
from seglab.data.cityscapes import CityscapesDataModule
from seglab.data.datamodule import SegDataModule
from seglab.data.folder import FolderDataModule
from seglab.data.lists import ListDataModule
from seglab.data.pascal_context import PascalContextDataModule
from seglab.data.synthetic import SyntheticDataModule
from seglab.data.voc import VOCDataModule

__all__ = [
    "ADE20KDataModule",
    "CamVidDataModule",
    "CityscapesDataModule",
    "FolderDataModule",
    "ListDataModule",
    "PascalContextDataModule",
    "SegDataModule",
    "SyntheticDataModule",
    "VOCDataModule",
]
