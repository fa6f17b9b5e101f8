"""Shared by bench_crf.py and tune_crf.py: a split's frames (val, or the train frames a
run held out: ``train_holdout``) and a trained model's softmax probabilities, cached on
disk (computed once, as DeepLab tuned from saved logits)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from seglab.run.restore import restore


def load_inputs(
    ckpt: str, data_root: str | None, frames: int, cache: str | None, split: str = "val"
):
    """``(probs N×C×H×W, raw N×H×W×3, mask N×H×W, class_names, ignore_index)``."""
    if cache and Path(cache).is_file():
        return torch.load(cache, weights_only=False)
    patch = OmegaConf.create({"root": data_root} if data_root else {})
    restored = restore(ckpt, patch)
    module, data = restored.model, restored.data
    module.eval()
    val = data.dataset(data.val_split if split == "val" else split)
    count = min(frames, len(val))  # evenly spread over the split (its sequences)
    picks = sorted({round(i * (len(val) - 1) / max(count - 1, 1)) for i in range(count)})
    samples = [val[i] for i in picks]
    batch = torch.utils.data.default_collate(samples)
    with torch.no_grad():
        probs = torch.cat(
            [  # the model's own evaluation path (its tta_scales, e.g. the CPU recipe's 0.5)
                module.predict_logits(batch["image"][i : i + 4]).float().softmax(1)
                for i in range(0, len(samples), 4)
            ]
        )
    out = (probs, batch["raw"], batch["mask"], data.class_names, data.ignore_index)
    if cache:
        torch.save(out, cache)
    return out
