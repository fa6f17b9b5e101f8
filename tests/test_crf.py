"""Fully connected CRFs: recovery of noisy regions, agreement on real CamVid, DDP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SMALL, camvid_root, run_cli, run_dirs, val_per_epoch

from seglab.crf import DenseCRF, TorchDenseCRF
from seglab.crf.permutohedral import Permutohedral
from seglab.training.metrics import SegMetrics


def noisy_regions(seed: int = 0):
    """Three colour regions; unaries right on average but argmax wrong on ~half the pixels."""
    h, w = 120, 160
    image = np.zeros((h, w, 3), np.uint8)
    image[:, :80] = (200, 40, 40)
    image[:, 80:] = (40, 40, 200)
    image[40:80, 30:60] = (40, 200, 40)
    truth = np.zeros((h, w), np.int64)
    truth[:, 80:] = 1
    truth[40:80, 30:60] = 2
    g = torch.Generator().manual_seed(seed)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(truth), 3).permute(2, 0, 1).float()
    logits = torch.randn(1, 3, h, w, generator=g) * 1.5 + onehot[None]
    return logits.softmax(1), torch.from_numpy(image)[None], torch.from_numpy(truth)[None]


def miou(pred: torch.Tensor, truth: torch.Tensor, classes: int, ignore: int = 255) -> float:
    m = SegMetrics(classes, ignore)
    m.update(pred, truth)
    return float(m.compute()["mIoU"])


@pytest.mark.parametrize(
    "crf",
    [DenseCRF(workers=0), TorchDenseCRF(), TorchDenseCRF(downsample=1)],
    ids=["dense", "torch", "torch-full-resolution"],
)
def test_crf_recovers_regions_from_noisy_unaries(crf):
    probs, raw, truth = noisy_regions()
    before = miou(probs.argmax(1), truth, 3)
    after = miou(crf(probs, raw).argmax(1), truth, 3)
    print(f"{type(crf).__name__}: mIoU {before:.3f} (argmax) -> {after:.3f}")
    assert before < 0.5 and after >= 0.95


@pytest.mark.slow
def test_dense_crf_worker_pool_matches_in_process():
    probs, raw, _ = noisy_regions()
    probs, raw = probs.repeat(3, 1, 1, 1), raw.repeat(3, 1, 1, 1)
    pooled = DenseCRF(workers=2)
    try:
        assert torch.allclose(pooled(probs, raw), DenseCRF(workers=0)(probs, raw), atol=1e-6)
    finally:
        pooled.close()


def test_torch_crf_bounded_chunks_give_the_same_result():
    probs, raw, _ = noisy_regions()
    probs = torch.cat([probs, noisy_regions(seed=1)[0], probs.flip(-1)])
    raw = torch.cat([raw, raw.flip(-2), raw.flip(-2)])
    one, three = TorchDenseCRF(chunk=1)(probs, raw), TorchDenseCRF(chunk=3)(probs, raw)
    assert torch.allclose(one, three, atol=1e-5)  # one lattice for 3 images: no leaks


def test_lattice_filter_equals_pydensecrf():
    """One mean-field step with only the appearance kernel, ours against pydensecrf's
    C++ lattice: the same arithmetic, so equal to float precision."""
    import pydensecrf.densecrf as dcrf

    rng = np.random.default_rng(0)
    h, w, c = 60, 80, 3
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    image[:, :40] = 30
    probs = rng.dirichlet(np.ones(c), size=h * w).T.astype(np.float32).copy()
    ref = dcrf.DenseCRF2D(w, h, c)
    ref.setUnaryEnergy(np.ascontiguousarray(-np.log(probs)))
    ref.addPairwiseBilateral(sxy=10, srgb=13, rgbim=image, compat=1.0)
    expected = torch.from_numpy(np.array(ref.inference(1))).T

    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    rgb = torch.from_numpy(image).reshape(-1, 3).float() / 13
    features = torch.cat([torch.stack([xx, yy], -1).reshape(-1, 2) / 10, rgb], 1)
    lattice = Permutohedral(features)
    norm = lattice.filter(torch.ones(h * w, 1)).rsqrt()
    p = torch.from_numpy(probs).T
    ours = torch.softmax(p.log() + lattice.filter(p * norm) * norm, dim=1)
    assert (ours - expected).abs().max() < 1e-5


def test_lattice_approximates_the_gaussian():
    """Against the exact Σ_j exp(−|f_i − f_j|²/2) v_j on random 3-D points."""
    g = torch.Generator().manual_seed(0)
    features = torch.rand(400, 3, generator=g) * 4
    values = torch.rand(400, 2, generator=g)
    exact = torch.exp(-0.5 * torch.cdist(features, features) ** 2) @ values
    approx = Permutohedral(features).filter(values)
    corr = torch.corrcoef(torch.stack([exact.flatten(), approx.flatten()]))[0, 1]
    ratio = (approx / exact).median()
    print(f"lattice vs exact Gaussian: correlation {corr:.4f}, median ratio {ratio:.3f}")
    assert corr > 0.98


@pytest.mark.parametrize("crf", ["dense", "torch"])
@pytest.mark.slow
def test_crf_inside_two_process_ddp_validation(crf, tmp_path):
    run_cli(
        "seglab-train",
        *SMALL,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        f"crf={crf}",
        "data.eval_batch_size=6",
        cwd=tmp_path,
        process=True,
    )
    (run,) = run_dirs(tmp_path)
    plain, refined = val_per_epoch(run, "val/mIoU"), val_per_epoch(run, "val/mIoU_crf")
    print(f"crf={crf} under DDP: val/mIoU {plain[0]:.4f}, val/mIoU_crf {refined[0]:.4f}")
    assert len(refined) == 1 and 0.0 <= refined[0] <= 1.0
    assert val_per_epoch(run, "val_iou_crf/background")


@pytest.fixture(scope="module")  # its tests share one xdist worker (make test: --dist loadgroup)
def camvid_model(tmp_path_factory):
    """A small FCN-32s trained briefly on real CamVid (about a minute on 2 cores)."""
    root = camvid_root()
    cwd = tmp_path_factory.mktemp("camvid_crf")
    run_cli(
        "seglab-train",
        "experiment=camvid_fcn32s_cpu",
        f"data.root={root}",
        "logger=csv",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=25",
        "trainer.limit_val_batches=2",
        cwd=cwd,
    )
    (run,) = run_dirs(cwd)
    return root, run / "checkpoints" / "last.ckpt"


@pytest.mark.xdist_group("camvid_model")
@pytest.mark.slow
def test_dense_and_torch_crf_agree_on_camvid(camvid_model):
    from omegaconf import OmegaConf

    from seglab.run.restore import restore

    root, ckpt_path = camvid_model
    restored = restore(str(ckpt_path), OmegaConf.create({"root": str(root)}))
    module, data = restored.model, restored.data
    module.eval()
    val = data.dataset("val")
    batch = torch.utils.data.default_collate([val[i] for i in range(0, 100, 17)])  # 6 frames
    with torch.no_grad():
        probs = module(batch["image"]).softmax(1)
    dense = DenseCRF(workers=2)
    try:
        p_dense = dense(probs, batch["raw"]).argmax(1)
    finally:
        dense.close()
    p_torch = TorchDenseCRF()(probs, batch["raw"]).argmax(1)
    mask = batch["mask"]
    valid = mask != 11
    agreement = float((p_dense == p_torch)[valid].float().mean())
    scores = {
        name: miou(pred, mask, 11, 11)
        for name, pred in (("none", probs.argmax(1)), ("dense", p_dense), ("torch", p_torch))
    }
    print(f"CamVid val (6 frames): pixel agreement dense/torch {agreement:.4f}; mIoU {scores}")
    assert agreement > 0.85
    assert abs(scores["dense"] - scores["torch"]) < 0.03


@pytest.mark.xdist_group("camvid_model")
@pytest.mark.slow
def test_tune_and_bench_scripts_run(camvid_model, tmp_path):
    """The reports of seglab.run.crf_tuning.tune and seglab.dev.bench_crf."""
    from seglab.dev.bench_crf import report
    from seglab.run.crf_tuning import tune

    root, ckpt = camvid_model
    grid = {"bilateral_sxy": [30, 67]}
    cache = str(tmp_path / "probs.pt")
    out = "\n".join(tune(str(ckpt), str(root), crf="dense", frames=2, iterations=3,
                         cache=cache, grid=grid))  # fmt: skip
    assert "best crf=dense: mIoU" in out and "model.crf.bilateral_sxy=" in out
    bench = "\n".join(report(data_root=str(root), frames=2, repeats=1, iterations=2))
    assert "pydensecrf, 1 process" in bench and "torch CRF, CPU" in bench
    print(bench)


def test_predict_step_applies_the_crf():
    from hydra.utils import instantiate
    from test_zoo import compose_cfg

    cfg = compose_cfg("crf=torch", "data.image_size=[64,64]")
    module = instantiate(cfg.model).eval()
    data = instantiate(cfg.data)
    batch = torch.utils.data.default_collate([data.dataset("val")[i] for i in range(2)])
    with torch.no_grad():
        out = module.predict_step(batch, 0)
        plain = module.predict_logits(batch["image"]).softmax(1)
        refined = module.crf(plain, batch["raw"])
    assert out["labels"].shape == (2, 64, 64)
    assert torch.equal(out["labels"], refined.argmax(1))
