"""Data: the data sets' LightningDataModules (exported here: the configs' ``_target_``s),
their base (``datamodule``), list files and folders (``lists``, ``folder``), samples
(``dataset``), label encodings (``labels``), augmentation (``augment``), samplers
(``sampling``), input spaces (``input_space``), class tables (``classes``) and
``seglab-data``'s statistics (``statistics``)."""

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
