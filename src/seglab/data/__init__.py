"""Data sets and LightningDataModules."""

from seglab.data.camvid import CamVidDataModule
from seglab.data.datamodule import SegDataModule
from seglab.data.synthetic import SyntheticDataModule

__all__ = ["CamVidDataModule", "SegDataModule", "SyntheticDataModule"]
