"""Data sets and LightningDataModules."""

from seglab.data.camvid import CamVidDataModule
from seglab.data.datamodule import SegDataModule
from seglab.data.lists import ListDataModule
from seglab.data.synthetic import SyntheticDataModule
from seglab.data.voc import VOCDataModule

__all__ = [
    "CamVidDataModule",
    "ListDataModule",
    "SegDataModule",
    "SyntheticDataModule",
    "VOCDataModule",
]
