"""The single continue-from decision: which checkpoint a run continues from, and how
``resume=<run folder>`` becomes that run's own overrides in its own folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seglab.errors import ConfigError
from seglab.run.records import RUN_INFO


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_argv(args: list[str]) -> list[str]:
    """Rewrite ``resume=<run folder>`` into the run's own overrides + its folder.

    ``ckpt_path=<run>/checkpoints/x.ckpt`` inside a seglab run folder continues that run in
    the same way. The saved overrides come first so that anything given now wins;
    ``hydra.run.dir`` points Hydra back at the same folder. DDP ranks re-launched by
    Lightning already carry the rewritten arguments and are left alone, and so are sweeps
    (``-m … hydra.sweep.dir=<sweep> resume=true``), which resume job by job.
    """
    if any(override_key(a) == "hydra.run.dir" for a in args) or {"-m", "--multirun"} & set(args):
        return args  # sweeps resume job by job (seglab.cli.train)
    values = {override_key(a): a.split("=", 1)[1] for a in args if "=" in a}
    run_dir = None
    if values.get("resume", "null") not in ("", "null", "None"):
        run_dir = Path(values["resume"]).expanduser().resolve()
    elif values.get("ckpt_path", "null") not in ("", "null", "None"):
        ckpt = Path(values["ckpt_path"]).expanduser().resolve()
        if (ckpt.parent.parent / ".hydra" / "overrides.yaml").is_file():
            run_dir = ckpt.parent.parent
    if run_dir is None:
        return args
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ConfigError(
            f"resume={values['resume']}: {saved} not found. Give the folder of an earlier "
            "seglab-train run (it holds .hydra/ and checkpoints/). To resume a sweep, "
            "use -m … hydra.sweep.dir=<sweep folder> resume=true."
        )
    given = {override_key(a) for a in args}
    old = [o for o in yaml.safe_load(saved.read_text()) or [] if override_key(o) not in given]
    old = [o for o in old if override_key(o) not in ("resume", "ckpt_path")]
    rest = [a for a in args if override_key(a) != "resume"]
    # ckpt_path inside a run folder continues that run from that file; resume=<folder>
    # continues from its last.ckpt: resume=true in the folder either way
    resume = "null" if "ckpt_path" in given and "resume" not in given else "true"
    # the added overrides go before the user's arguments: a flag among those (--cfg job)
    # must not end up between two overrides, which Hydra's parser refuses
    return [*old, f"resume={resume}", f"hydra.run.dir={run_dir}", *rest]


SKIP = "skip"  # continue_from's answer for a sweep job that already finished


def continue_from(cfg: Any, run_dir: Path, in_sweep: bool, requeued: bool) -> str | None:
    """The checkpoint a run continues from: the one place that decides.

    ``ckpt_path=<file>``: that file. ``resume=true`` (what ``resume=<run folder>``
    becomes, what a sweep re-run with ``-m … hydra.sweep.dir=<sweep> resume=true`` gives
    each job, and what a SLURM requeue implies): the run folder's ``checkpoints/last.ckpt``
    (a sweep job that finished is skipped; one that never saved starts afresh).
    Otherwise nothing: a new run."""
    if cfg.get("ckpt_path"):
        return str(cfg.ckpt_path)
    if not (cfg.get("resume") or requeued):
        return None
    if in_sweep and (run_dir / RUN_INFO).is_file():
        info = yaml.safe_load((run_dir / RUN_INFO).read_text()) or {}
        if info.get("finished"):
            return SKIP
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    if in_sweep or requeued:
        return None
    if not (run_dir / ".hydra" / "overrides.yaml").is_file() or not (run_dir / RUN_INFO).is_file():
        raise ConfigError(
            "resume=true continues the run in its own folder: give resume=<run folder> "
            "(a folder of an earlier seglab-train run)."
        )
    raise ConfigError(
        f"resume={run_dir}: no {last}. The run stopped before its first checkpoint; "
        "start it again without resume=."
    )
