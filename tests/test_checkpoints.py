"""Checkpoints: atomic writes, and damaged files refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import SMALL, run_cli, run_dirs

from seglab.errors import SeglabError
from seglab.run.checkpoints import AtomicCheckpointIO, load_checkpoint


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("killed half-way through the write")


def test_a_failed_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "step": 1}, target)
    with pytest.raises(RuntimeError, match="half-way"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "bad": Unpicklable()}, target)
    assert torch.load(target, weights_only=False)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left


def test_truncated_checkpoint_is_refused_on_resume_and_eval(tmp_path):
    run_cli("seglab-train", *SMALL, "trainer=debug", "logger=csv", cwd=tmp_path)
    (run,) = run_dirs(tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(SeglabError, match="damaged or incomplete"):
        load_checkpoint(last)
    # the resume trains on (a longer schedule: a finished fit of the same length would
    # leave the checkpoint unread, run_info.yaml saying fit finished)
    resume = ("seglab-train", f"resume={run}", "trainer.max_epochs=5")
    for cmd, *args in (resume, ("seglab-eval", f"ckpt_path={last}")):
        proc = run_cli(cmd, *args, cwd=tmp_path, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"cannot load checkpoint {last}" in proc.stderr


def test_targets_stored_in_earlier_checkpoints_still_resolve():
    """Checkpoints carry their run's resolved config; seglab-eval / predict rebuild the
    model and data from its ``_target_`` paths. Every target the model, data and CRF
    configs had before seglab/run/ and seglab/tracking/ (commit eafaa80, listed by
    composing every model, backbone, head, CRF and data option), and every target of
    conf/ before the package layout of issue 31 (fecf04e: callbacks, module, loss,
    checkpoint IO), still imports, through restore's map of moved modules."""
    from hydra.utils import get_object

    from seglab.run.moved import moved_target

    targets = []
    for listing, at_least in (("eafaa80", 25), ("fecf04e", 40)):
        listed = Path(__file__).parent / "data" / f"checkpoint_targets_{listing}.txt"
        names = listed.read_text().split()
        assert len(names) >= at_least
        targets += names
    missing = []
    for target in targets:
        try:
            get_object(moved_target(target))
        except Exception as exc:  # report every target that fails
            missing.append(f"{target}: {exc}")
    assert missing == []


def test_jobs_before_and_after_a_module_moved_pool_into_one_cell():
    """A sweep extended with more seeds after the package layout changed: its old jobs'
    configs name seglab.module …, the new ones seglab.training.module …; seglab-report
    still groups them by what they train."""
    from seglab.reporting.jobs import cell_key

    def job(target: str, seed: int) -> dict:
        model = {
            "_target_": target,
            "loss": {"_target_": target.replace("module.Seg", "losses.Seg")},
        }
        return {"seed": seed, "model": model, "data": {"seed": seed}}

    old = job("seglab.module.SegmentationModule", 1)
    new = job("seglab.training.module.SegmentationModule", 2)
    choices = {"model": "fcn8s"}
    assert cell_key(old, choices) == cell_key(new, choices)
    other = job("seglab.training.module.OtherModule", 3)
    assert cell_key(other, choices) != cell_key(new, choices)
    # Hydra's own groups say how a job was launched, not what it trains
    launched = {**choices, "hydra/help": "seglab", "hydra/launcher": "slurm"}
    assert cell_key(new, launched) == cell_key(new, {**choices, "hydra/help": "default"})
    assert cell_key(new, {"model": "fcn16s"}) != cell_key(new, choices)
