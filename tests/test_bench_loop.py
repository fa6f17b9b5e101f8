"""seglab.dev.bench_loop: seglab-train's loop against a bare PyTorch loop."""

from __future__ import annotations

import pytest


@pytest.mark.slow  # a whole seglab-train run in process (W&B offline): ~10-15 s on 2 cores
def test_bench_loop_prints_the_ratio_and_the_split_of_the_step(capsys, tmp_path, monkeypatch):
    import os

    from seglab.dev.bench_loop import main

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may land in the working folder
    env = dict(os.environ)
    main(["--workloads", "default", "--steps", "2", "--warmup", "1", "--repeats", "1"])
    out = capsys.readouterr().out
    print(out)
    lines = out.splitlines()
    assert lines[0].startswith("machine: ") and "threads" in lines[0]
    assert any(line.startswith("img/s: training steps only") for line in lines)
    head = next(i for i, line in enumerate(lines) if line.startswith("workload "))
    assert "ratio" in lines[head] and "rest %" in lines[head]
    row = lines[head + 1].split()
    assert row[0] == "default" and int(row[1]) == 16  # conf/data/synthetic.yaml's batch
    seglab, bare, ratio = (float(v) for v in row[2:5])
    assert seglab > 0 and bare > 0 and ratio == pytest.approx(seglab / bare, abs=2e-3)
    split = [float(v) for v in row[5:9]]  # forward, backward, optimizer, rest (%)
    assert len(split) == 4 and sum(split) == pytest.approx(100, abs=0.5)
    assert split[0] > 0 and split[1] > 0 and split[2] > 0  # each part was timed
    ms = {line.split()[-6]: [float(v) for v in line.split()[-5:]] for line in lines[-2:]}
    assert set(ms) == {"seglab", "bare"}
    for step, *parts in ms.values():  # step = forward + backward + optimizer + rest
        assert step > 0 and sum(parts) == pytest.approx(step, rel=1e-3)
    assert not list(cwd.iterdir())
    assert dict(os.environ) == env  # W&B's settings and Lightning's seed variable undone
