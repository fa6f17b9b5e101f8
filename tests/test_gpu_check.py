"""The prepared GPU check (seglab.dev.gpu_check): its dry run
composes every command it would run, on a machine without a GPU, and names what does
not compose. (The check itself needs a GPU; nothing here trains.)"""

from __future__ import annotations

import pytest

from seglab.dev import gpu_check

STEP_KEYS = ["1a", "1b", "1c", "2a", "2b", "3", "4", "5"]


def test_dry_run_composes_every_command(capsys, tmp_path):
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    commands = [ln for ln in out.splitlines() if ln.startswith("  $ ")]
    # 3 benches, 2 trainings, the CRF, 4 runs of the resume check, export + parity
    assert len(commands) == 12
    assert out.count("\n    composes") == len(commands)
    assert "DOES NOT COMPOSE" not in out
    for needle in (
        "seglab.dev.bench_train --size 512 512",
        "--fast-paths deeplabv3_mobilenet_v3_large",
        "--compile",
        "seglab-train model=fcn8s",
        "seglab-train model=deeplab_v3",
        "data.image_size=[513,513]",
        "data.batch_size=16",
        "trainer.precision=bf16-mixed",
        "model.net.backbone.pretrained=null",
        "--part crf",
        "trainer=ddp trainer.devices=1",
        "seglab-train resume=",
        "seglab-export ckpt_path=",
        "--part onnx_parity",
    ):
        assert needle in out, needle
    summary = (tmp_path / "gpu_check.txt").read_text()
    assert "total wall time" in summary
    for key in STEP_KEYS:
        row = next(ln for ln in summary.splitlines() if ln.startswith(f"| {key} "))
        assert "| DRY-RUN |" in row, row


def test_dry_run_names_a_misspelt_key(capsys):
    status = gpu_check.main(["--dry-run", "--only", "2a", "--extra-override", "data.batch_sise=2"])
    out = capsys.readouterr().out
    assert status == 1
    assert "DOES NOT COMPOSE: data.batch_sise" in out
    assert "| 2a train FCN-8s | DRY-RUN, does not compose |" in out


def test_a_bench_argument_that_does_not_parse_is_named():
    """bench_train's own parser reads the arguments; nothing of the bench runs."""
    good = gpu_check.Command("bench", "bench", gpu_check.bench_args(gpu_check.Plan()))
    gpu_check.check_command(good)
    bad = gpu_check.Command("bench", "bench", ["--sise", "1"])
    with pytest.raises(ValueError, match="unrecognized arguments: --sise 1"):
        gpu_check.check_command(bad)


def test_figures_from_the_benches_tables():
    compare = [
        "fcn_resnet50_torchvision                  101.20    100.00   1.01      100.0"
        "        5000/4900",
    ]
    assert gpu_check.parse_compare(compare) == [
        "fcn_resnet50 101.20/100.00 img/s (1.01x, 5000/4900 MB)"
    ]
    fast = [
        "deeplabv3_mobilenet_v3_large: variant    img/s  vs fp32",
        "  fp32                                     120.00    1.00x",
        "  bf16-mixed + channels_last               300.00    2.50x",
        "  Traceback (most recent call last): x",
    ]
    assert gpu_check.parse_fast_paths(fast) == [
        "fp32 120.0 img/s (1.00x)",
        "bf16-mixed + channels_last 300.0 img/s (2.50x)",
    ]


def test_max_time_leaves_the_margin():
    assert gpu_check.max_time(100, 30) == "00:00:01:10"
    assert gpu_check.max_time(10, 30) == "00:00:00:20"  # never below 20 s
