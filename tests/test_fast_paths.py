"""Fast paths change speed, not results: channels_last, torch.compile and bf16 autocast
stay within the precision of plain fp32, judged against a float64 reference."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from test_zoo import compose_cfg


def module_and_batch(double: bool = False, **fast):
    # no dropout: masks drawn in another memory layout would differ, not the arithmetic
    cfg = compose_cfg("data.image_size=[64,64]", "model.net.backbone.dropout=0")
    torch.manual_seed(0)
    module = instantiate(cfg.model, **fast)
    for p in module.parameters():  # FCN's score layers start at zero: make logits informative
        if p.dim() > 1 and not p.any():
            torch.nn.init.normal_(p, std=0.1)
    ds = instantiate(cfg.data).dataset("val")
    batch = torch.utils.data.default_collate([ds[i] for i in range(2)])
    if double:
        module, batch["image"] = module.double(), batch["image"].double()
    module.configure_model()
    return module, batch


def step(module, batch) -> dict[str, torch.Tensor]:
    """Logits, then the loss and every gradient of one batch. Batch norm uses its running
    statistics: with batch statistics of 2 images its backward is too ill-conditioned for
    fp32 itself (errors of 10% against float64), which would hide any real difference."""
    module.eval()
    with torch.no_grad():
        results = {"logits": module(batch["image"])}
    module.zero_grad()
    out = module._run_net(batch["image"])
    loss = module.loss(out["out"] if isinstance(out, dict) else out, batch["mask"])
    loss.backward()
    results["loss"] = loss.detach()
    results.update({n: p.grad for n, p in module.named_parameters() if p.grad is not None})
    return results


def worst_error(results: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> float:
    """Largest error of any output relative to its scale, the scale being at least 1% of
    the largest output's (early layers' gradients vanish to 1e-7 at initialisation)."""
    assert results.keys() == reference.keys()
    floor = 1e-2 * max(float(ref.abs().max()) for ref in reference.values())
    return max(
        float((results[k].double() - ref).abs().max()) / max(float(ref.abs().max()), floor)
        for k, ref in reference.items()
    )


@pytest.fixture(scope="module")
def reference():
    """float64 results, and plain fp32's own error against them (the precision budget)."""
    ref = step(*module_and_batch(double=True))
    assert ref["logits"].abs().max() > 0.05  # real outputs, not zeros
    return ref, worst_error(step(*module_and_batch()), ref)


@pytest.mark.parametrize(
    "fast", [{"channels_last": True}, {"compile": True}], ids=["channels_last", "compile"]
)
@pytest.mark.xdist_group("fast_paths_reference")
@pytest.mark.slow
def test_fast_path_is_as_precise_as_fp32(fast, reference):
    ref, fp32_error = reference
    module, batch = module_and_batch(**fast)
    error = worst_error(step(module, batch), ref)
    print(f"{fast}: relative error {error:.2e} (plain fp32: {fp32_error:.2e})")
    # other kernels (NHWC, fused by inductor) sum in another order: fp32 rounding, ~1e-6
    assert error <= 1e-4


def test_compile_keeps_checkpoint_keys():
    compiled, _ = module_and_batch(compile=True)
    plain, _ = module_and_batch()
    assert compiled.state_dict().keys() == plain.state_dict().keys()  # no _orig_mod.


@pytest.mark.xdist_group("fast_paths_reference")
def test_bf16_autocast_agrees_within_its_precision(reference):
    ref, _ = reference
    module, batch = module_and_batch(channels_last=True)
    module.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = module(batch["image"]).double()
    scale = ref["logits"].abs().max()
    error = float((logits - ref["logits"]).abs().max() / scale)
    agreement = float((logits.argmax(1) == ref["logits"].argmax(1)).double().mean())
    print(f"bf16-mixed + channels_last: relative logit error {error:.4f}, argmax {agreement:.4f}")
    assert error <= 0.05  # bf16 keeps 8 bits of mantissa: ~0.4% a step, a few % overall
    assert agreement >= 0.98
