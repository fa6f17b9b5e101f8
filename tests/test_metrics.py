"""mIoU / IoU / pixel accuracy on hand-checked examples."""

import math

import torch

from seglab.training.metrics import SegMetrics


def test_iou_ignores_void_and_leaves_absent_classes_out():
    m = SegMetrics(num_classes=4, ignore_index=255)
    target = torch.tensor([[0, 0, 1, 1, 255, 255]])
    preds = torch.tensor([[0, 1, 1, 1, 3, 0]])
    m.update(preds, target)
    r = m.compute()
    # class 0: tp 1, fp 0, fn 1 -> 1/2; class 1: tp 2, fp 1 -> 2/3; class 2 absent; class 3
    # predicted only on void pixels -> absent too
    assert torch.allclose(r["IoU"][:2], torch.tensor([0.5, 2 / 3]))
    assert math.isnan(r["IoU"][2]) and math.isnan(r["IoU"][3])
    assert torch.isclose(r["mIoU"], torch.tensor((0.5 + 2 / 3) / 2))
    assert torch.isclose(r["pixel_acc"], torch.tensor(3 / 4))


def test_accumulates_over_batches_and_resets():
    m = SegMetrics(num_classes=2, ignore_index=2)
    m.update(torch.tensor([0, 0]), torch.tensor([0, 1]))
    m.update(torch.tensor([1, 1]), torch.tensor([1, 1]))
    assert torch.isclose(m.compute()["mIoU"], torch.tensor((1 / 2 + 2 / 3) / 2))
    m.reset()
    m.update(torch.tensor([1]), torch.tensor([1]))
    assert torch.isclose(m.compute()["mIoU"], torch.tensor(1.0))
