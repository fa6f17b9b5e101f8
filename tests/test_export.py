"""seglab-export: every model config exports to ONNX and TorchScript with parity; a
trained checkpoint predicts the same labels through ONNX Runtime as through PyTorch;
bad inputs are one line each."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import SMALL, run_cli, run_dirs
from PIL import Image

from seglab.dev.export_parity import VARIANTS, check
from seglab.run.exporting import TOLERANCES

# the graphs that are hardest to keep dynamic (MSc, U-Net, GRUs; FCN crops with test-time
# views: the trained FCN below); seglab.dev.export_parity covers every model config
# Written at a fixed size, and saying why: ReSeg's ONNX GRU keeps the example's batch of
# rows (ONNX Runtime fails at another size); valid U-Net's dynamic ONNX export does not
# finish; U-Net's TorchScript traces bake their padding
FIXED = {  # (format, variant)
    ("onnx", "reseg (GRUs)"),
    ("onnx", "unet (valid)"),
    ("torchscript", "unet (valid)"),
    ("torchscript", "unet (same)"),
}
# FCN with test-time views: the trained checkpoint below
IN_SUITE = ["deeplab_v2 (MSc)", "unet (valid)", "unet (same)", "reseg (GRUs)"]


@pytest.mark.parametrize("variant", IN_SUITE)
@pytest.mark.slow
def test_models_export_with_parity(variant):
    row = check(variant, small=True, sizes=[(97, 131), (120, 152)], formats=["onnx", "torchscript"])
    print(row)
    for fmt in ("onnx", "torchscript"):
        fixed = (fmt, variant) in FIXED
        assert row[f"{fmt}_dynamic"] is not fixed, (fmt, row[f"{fmt}_why"])
        assert len(row[fmt]) == (1 if fixed else 2), (fmt, row[fmt])
        assert max(row[fmt]) <= TOLERANCES[fmt], (fmt, row[fmt])
    assert 1 <= row["min_side"] <= 97
    assert set(IN_SUITE) <= set(VARIANTS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny FCN with test-time views and a CRF, as a user's checkpoint would have."""
    tmp = tmp_path_factory.mktemp("export")
    views = ["crf=torch", "model.crf.iterations=3", "model.tta_scales=[0.5,1.0]",
             "model.tta_flip=true"]  # fmt: skip
    run_cli("seglab-train", *SMALL, "trainer=debug", "logger=none", *views, cwd=tmp)
    (run,) = run_dirs(tmp)
    images = tmp / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"odd": (97, 131), "wide": (64, 150), "small": (40, 52)}.items():
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{name}.png")
    return tmp, run / "checkpoints" / "last.ckpt", images


@pytest.mark.xdist_group("export_checkpoint")
@pytest.mark.slow
def test_onnxruntime_predicts_what_pytorch_predicts(trained):
    tmp, ckpt, images = trained
    proc = run_cli("seglab-export", f"ckpt_path={ckpt}", f"out={tmp}/m.onnx", "height=64",
                   "width=80", cwd=tmp)  # fmt: skip
    assert "accepts any height and width" in proc.stdout + proc.stderr
    assert proc.stdout.count("parity") == 2

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp / "m.onnx")).metadata_props}
    assert '"background"' in meta["class_names"] and meta["ignore_index"].isdigit()
    assert "TorchDenseCRF" in meta["crf"] and meta["tta_scales"] == "[0.5, 1.0]"
    assert "RGB, 0–255" in meta["input"] and "log of the softmax" in meta["output"]

    outputs = {}
    for backend, *source in (
        ("pytorch", f"ckpt_path={ckpt}"),  # NHWC, the CPU default
        ("pytorch_nchw", f"ckpt_path={ckpt}", "channels_last=false"),
        ("onnxruntime", f"model={tmp}/m.onnx"),
    ):
        out = tmp / f"out_{backend}"
        run_cli("seglab-predict", *source, f"input={images}", f"output={out}", cwd=tmp)
        outputs[backend] = out
    for name in ("odd", "wide", "small"):
        for kind in ("labels", "color", "overlay"):
            a = np.asarray(Image.open(outputs["pytorch"] / f"{name}_{kind}.png"))
            for other in ("pytorch_nchw", "onnxruntime"):
                b = np.asarray(Image.open(outputs[other] / f"{name}_{kind}.png"))
                assert a.shape == b.shape and int((a != b).sum()) == 0, (name, kind, other)


@pytest.mark.xdist_group("export_checkpoint")
@pytest.mark.slow
def test_torchscript_export_keeps_metadata_and_parity(trained):
    tmp, ckpt, _ = trained
    proc = run_cli("seglab-export", f"ckpt_path={ckpt}", "format=torchscript", cwd=tmp)
    written = ckpt.with_suffix(".torchscript.pt")
    assert written.is_file() and proc.stdout.count("parity") == 2

    from seglab.deploy.formats import read_torchscript

    module, meta = read_torchscript(written)
    assert meta["num_classes"] == 5 and meta["sizes"]["dynamic"] is True
    scores = module(torch.rand(2, 3, 70, 90) * 255)
    assert scores.shape == (2, 5, 70, 90)


@pytest.mark.xdist_group("export_checkpoint")
@pytest.mark.slow
def test_bad_export_and_onnx_inputs_are_one_line(trained, tmp_path, monkeypatch, capsys):
    """In this process (each command's main, as the console entry calls it): the one-line
    error and exit status 2 are the entry points' own, so a process apiece adds only time."""
    tmp, ckpt, images = trained
    monkeypatch.chdir(tmp_path)
    from seglab.cli.export import main as export_main
    from seglab.cli.predict import main as predict_main

    def run(main, *args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["seglab", *args])
        try:
            main()
        except SystemExit as exc:
            return exc.code, capsys.readouterr().err
        return 0, capsys.readouterr().err

    def fails(main, *args: str) -> str:
        code, err = run(main, *args)
        assert code == 2 and "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seglab: error:"), err
        return lines[0]

    # a fixed-size export rejects other sizes with the reason and what to do
    code, err = run(export_main, f"ckpt_path={ckpt}", f"out={tmp_path}/fixed.onnx",
                    "dynamic=false", "height=64", "width=80", "check=false")  # fmt: skip
    assert code == 0, err
    line = fails(predict_main, f"model={tmp_path}/fixed.onnx", f"input={images}/odd.png",
                 f"output={tmp_path}/o")  # fmt: skip
    assert "fixed size 64×80" in line and "sliding_window" in line
    line = fails(predict_main, f"model={tmp_path}/fixed.onnx", "tta_flip=true",
                 f"input={images}", f"output={tmp_path}/o")  # fmt: skip
    assert "tta_flip" in line

    # a checkpoint whose config cannot be rebuilt; a size below the network's smallest
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    state["seglab"]["config"]["model"]["net"]["head"]["_target_"] = "seglab.models.heads.Gone"
    torch.save(state, tmp_path / "gone.ckpt")
    assert "Gone" in fails(export_main, f"ckpt_path={tmp_path}/gone.ckpt")
    line = fails(export_main, f"ckpt_path={ckpt}", "height=0", "width=80")
    assert "height" in line
    line = fails(export_main, f"ckpt_path={ckpt}", "format=tflite")
    assert "format" in line and "onnx" in line

    # a missing extra (None in sys.modules: the import fails as for a package not installed)
    monkeypatch.setitem(sys.modules, "onnx", None)
    line = fails(export_main, f"ckpt_path={ckpt}", f"out={tmp_path}/x.onnx")
    assert "needs the 'onnx' package" in line and "seglab[export]" in line
    monkeypatch.delitem(sys.modules, "onnx")

    # an ONNX file seglab did not write, and one that is not ONNX at all
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "plain.onnx")
    line = fails(predict_main, f"model={tmp_path}/plain.onnx", f"input={images}",
                 f"output={tmp_path}/o")  # fmt: skip
    assert "not written by seglab-export" in line
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model")
    line = fails(predict_main, f"model={tmp_path}/junk.onnx", f"input={images}",
                 f"output={tmp_path}/o")  # fmt: skip
    assert "cannot load it" in line


def test_predict_without_a_model_says_what_to_give(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    proc = run_cli("seglab-predict", f"input={tmp_path}/a.png", f"output={tmp_path}/o",
                   cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ckpt_path=<file> is missing" in proc.stderr and "model=<file.onnx>" in proc.stderr
