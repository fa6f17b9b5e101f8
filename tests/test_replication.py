"""seglab-report's replication view on a generated sweep whose figures are checked by
hand: 95% intervals, verdicts against published effects, seeds needed for 80% power; the
machine fingerprint that keeps seeds from different machines apart; the figures."""

from __future__ import annotations

import math

import pytest
import yaml
from test_ablation import write_job

from seglab.cli.report import main as report_main
from seglab.reporting import baseline, stats
from seglab.reporting.cells import check_machines, group_by_seed
from seglab.reporting.jobs import read_job, read_sweep
from seglab.reporting.replication import comparisons, load_questions
from seglab.run.machine import fingerprint, machine

# three cells of three seeds; the questions below are made up so that one agrees, one
# contradicts and one is underpowered
VALUES = {"a1": [0.50, 0.52, 0.54], "b1": [0.40, 0.42, 0.44], "c1": [0.40, 0.45, 0.50]}
QUESTIONS = {
    "questions": [
        {"question": "a1 vs b1", "a": {"model": "a1"}, "b": {"model": "b1"},
         "published": {"effect": 8.0, "source": "made up", "data": "none", "metric": "IU"}},
        {"question": "b1 vs a1", "a": {"model": "b1"}, "b": {"model": "a1"},
         "published": {"effect": 5.0, "source": "made up", "data": "none", "metric": "IU"}},
        {"question": "c1 vs b1", "a": {"model": "c1"}, "b": {"model": "b1"},
         "published": {"effect": 2.0, "source": "made up", "data": "none", "metric": "IU"}},
    ]
}  # fmt: skip
HERE = machine()
ELSEWHERE = {**HERE, "cpu": "AMD EPYC 7B13", "cpu_features": "avx2", "cores": 4}


def write_sweep(root, machines=None, values_by_model=None):
    num = 0
    for model, values in (values_by_model or VALUES).items():
        for seed, value in enumerate(values, start=1):
            folder = root / str(num)
            write_job(folder, model, seed, value, None, None)
            recorded = (machines or {}).get(num, HERE)
            seconds = {"train": 100 + 10 * num, "val": 10, "val_crf": 5}
            fit = {"phase": "fit", "ended": "finished", "seconds": seconds}
            info = {"run_id": str(num), "started": "2026-12-02 00:00:00", "machine": recorded,
                    "phases": [fit]}  # fmt: skip
            (folder / "run_info.yaml").write_text(yaml.safe_dump(info))
            num += 1
    return root


@pytest.fixture
def questions_file(tmp_path):
    path = tmp_path / "questions.yaml"
    path.write_text(yaml.safe_dump(QUESTIONS))
    return path


def test_intervals_verdicts_and_seeds_needed_by_hand(tmp_path, questions_file):
    sweep = write_sweep(tmp_path / "sweep")
    cells = group_by_seed([read_job(sweep / str(n)) for n in range(9)])
    found = {c.question: c for c in comparisons(cells, load_questions(questions_file))}
    agrees, contradicts, underpowered = (found[q] for q in ("a1 vs b1", "b1 vs a1", "c1 vs b1"))

    # a1 - b1 = 0.52 - 0.42 = 0.10; SE sqrt(0.02²/3 + 0.02²/3) = 0.016330; Welch
    # df = (2 v)² / (2 v² / 2) = 4 with v = 0.0004/3; t(0.975, 4) = 2.7764:
    # 0.10 ± 0.04534 = [0.05466, 0.14534], holding the published 0.08 and not 0
    assert agrees.result.df == pytest.approx(4.0)
    assert agrees.interval == pytest.approx((0.054661, 0.145339), abs=1e-6)
    assert agrees.verdict == "agrees"
    # the same cells the other way round against a published +0.05: wholly below 0
    assert contradicts.interval == pytest.approx((-0.145339, -0.054661), abs=1e-6)
    assert contradicts.verdict == "contradicts"
    # c1 - b1 = 0.45 - 0.42 = 0.03; SE sqrt(0.05²/3 + 0.02²/3) = 0.031091; Welch df =
    # (0.0025/3 + 0.0004/3)² / ((0.0025/3)²/2 + (0.0004/3)²/2) = 2.624; t = 3.4552:
    # [-0.0775, +0.1375] holds 0 and the published +0.02: too wide to tell
    assert underpowered.stderr == pytest.approx(math.sqrt((0.0025 + 0.0004) / 3))
    assert underpowered.result.df == pytest.approx(2.62402, abs=1e-4)
    assert underpowered.interval == pytest.approx((-0.077471, 0.137471), abs=1e-5)
    assert underpowered.verdict == "underpowered"

    # seeds per cell for 80% power (two-sided t-test at 5%, non-central t); checked by
    # simulation (20 000 draws): 0.08 at spread 0.02 -> n=2 detects 56%, n=3 95%;
    # 0.02 at spread sqrt((0.05² + 0.02²)/2) = 0.03808 -> n=57 79%, n=58 80%
    assert agrees.seeds_needed == 3
    assert stats.power(0.08, 0.02, 2, False) == pytest.approx(0.5645, abs=1e-3)
    assert underpowered.seeds_needed == 58
    assert stats.power(0.02, 0.038079, 57, False) < 0.8 <= stats.power(0.02, 0.038079, 58, False)
    assert contradicts.seeds_needed == 4  # 0.05 at spread 0.02

    report_main([str(sweep), "--published", str(questions_file)])
    report = (sweep / "report.md").read_text()
    assert "| a1 vs b1 | val | +0.1000 | [+0.0547, +0.1453] | 3 | +0.0800 | agrees | 3 |" in report
    assert (
        "| b1 vs a1 | val | -0.1000 | [-0.1453, -0.0547] | 3 | +0.0500 | contradicts | 4 |"
        in report
    )
    assert (
        "| c1 vs b1 | val | +0.0300 | [-0.0775, +0.1375] | 3 | +0.0200 | underpowered | 58 |"
        in report
    )
    assert "## Machines" in report and f"{HERE['cores']} cores" in report
    # time split: a1's jobs 0-2 train 100, 110, 120 s (mean 110), val 10, CRF 5: 15 / 125
    assert "| a1 | 110.0 | 10.0 | 5.0 | 12.0% |" in report
    for figure in ("forest.png", "val_miou.png", "ablation.png"):
        assert (sweep / figure).stat().st_size > 10_000, figure


def test_verdicts_at_their_edges():
    assert stats.verdict(0.03, (0.01, 0.05)) == "agrees"
    assert stats.verdict(-0.03, (-0.05, -0.01)) == "agrees"
    assert stats.verdict(0.03, (-0.05, -0.01)) == "contradicts"
    assert stats.verdict(0.03, (-0.01, 0.05)) == "underpowered"
    assert stats.verdict(0.03, (0.10, 0.20)) == "same sign, larger"
    assert stats.verdict(0.03, (0.001, 0.02)) == "same sign, smaller"
    assert stats.verdict(0.03, (-0.01, 0.02)) == "smaller, holds 0"
    assert stats.verdict(0.03, None) == "n/a (one seed)"
    # paired: gains 0.01, 0.02, 0.01 -> spread 0.005774; 0.02 needs 3 pairs
    gain = stats.paired([0.51, 0.52, 0.51], [0.50, 0.50, 0.50])
    assert gain.df == 2 and gain.spread == pytest.approx(0.0057735, rel=1e-4)
    assert stats.seeds_needed(0.02, gain.spread, True) == 3


def test_seeds_from_different_machines_are_not_pooled_without_a_flag(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "sweep", machines={1: ELSEWHERE})  # a1's seed 2
    assert fingerprint(ELSEWHERE) != fingerprint(HERE)
    cells = group_by_seed([read_job(sweep / str(n)) for n in range(9)])
    with pytest.raises(Exception, match="different machines") as refused:
        check_machines(cells, pool=False)
    assert "jobs 1: " in str(refused.value) and "--pool-machines" in str(refused.value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        report_main([str(sweep)])
    stderr = capsys.readouterr().err
    assert exited.value.code == 2
    assert stderr.startswith("seglab-report: error: cell a1 pools seeds run on 2")
    assert len(stderr.strip().splitlines()) == 1
    report_main([str(sweep), "--pool-machines"])
    assert "warning: cells ran on 2 different machines" in capsys.readouterr().err
    assert "AMD EPYC 7B13" in (sweep / "report.md").read_text()


def test_seeds_run_at_another_thread_count_are_not_pooled_either(tmp_path):
    """A sweep whose jobs ran side by side at 1 thread (hydra/launcher=parallel) and one
    extended one job at a time at 2: same CPU, other numbers for the same seed."""
    other = {**HERE, "threads": HERE["threads"] + 1}
    assert fingerprint(other) != fingerprint(HERE)
    sweep = write_sweep(tmp_path / "sweep", machines={1: other})
    cells = group_by_seed([read_job(sweep / str(n)) for n in range(9)])
    with pytest.raises(Exception, match=r"another machine or thread count") as refused:
        check_machines(cells, pool=False)
    assert f"threads={other['threads']}" in str(refused.value)


def test_a_sweep_against_a_baseline_sweep_by_hand(tmp_path, capsys):
    """--baseline: a1 moved up by 0.10 (Welch by hand: stderr sqrt(2 * 0.0004 / 3), df 4,
    t 2.7764 -> half-width 0.0453), b1 unchanged, c1 down by less than its noise; a model
    only one side trained is left out, and the machines' difference is said once."""
    before = {"a1": [0.40, 0.42, 0.44], "b1": VALUES["b1"], "c1": [0.42, 0.47, 0.52],
              "d1": [0.3, 0.3]}  # fmt: skip
    old = write_sweep(tmp_path / "old", dict.fromkeys(range(11), ELSEWHERE), before)
    sweep = write_sweep(tmp_path / "new")
    report_main([str(sweep), "--baseline", str(old)])
    report = (sweep / "report.md").read_text()
    section = report.split("## Against the baseline old")[1].split("## Replication")[0]
    half = stats.scipy_stats.t.ppf(0.975, 4) * math.sqrt(2 * 0.0004 / 3)
    assert half == pytest.approx(0.04533, abs=1e-5)
    rows = [line for line in section.splitlines() if line.startswith("| a1") or
            line.startswith("| b1") or line.startswith("| c1")]  # fmt: skip
    assert rows == [
        f"| a1 | val mIoU | 0.5200 ± 0.0200 (3) | 0.4200 ± 0.0200 (3) | "
        f"+0.1000 [{0.1 - half:+.4f}, {0.1 + half:+.4f}] | better |",
        "| b1 | val mIoU | 0.4200 ± 0.0200 (3) | 0.4200 ± 0.0200 (3) | "
        f"+0.0000 [{-half:+.4f}, {half:+.4f}] | no change detected |",
        "| c1 | val mIoU | 0.4500 ± 0.0500 (3) | 0.4700 ± 0.0500 (3) | "
        + f"-0.0200 [{stats.welch([0.40, 0.45, 0.50], [0.42, 0.47, 0.52]).interval[0]:+.4f}, "
        + f"{stats.welch([0.40, 0.45, 0.50], [0.42, 0.47, 0.52]).interval[1]:+.4f}] | "
        + "no change detected |",
    ]
    assert "d1" not in section and "AMD EPYC 7B13" in section
    assert section.count("ran on different machines") == 1
    worse = write_sweep(tmp_path / "worse", values_by_model={"a1": [0.30, 0.32, 0.34]})
    cells = lambda folder: group_by_seed(read_sweep(folder))  # noqa: E731
    (shift,) = baseline.shifts(cells(worse), cells(sweep), "new")
    assert shift.verdict == "worse" and shift.difference.value == pytest.approx(-0.2)
    text = baseline.markdown([shift], cells(worse), cells(sweep), "new")
    assert "| -0.2000 [" in text and "ran on different machines" not in text


def test_a_baseline_with_none_of_the_models_is_one_line(tmp_path, capsys):
    baseline = write_sweep(tmp_path / "old", values_by_model={"z9": [0.1, 0.2]})
    sweep = write_sweep(tmp_path / "new")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        report_main([str(sweep), "--baseline", str(baseline)])
    stderr = capsys.readouterr().err
    assert exited.value.code == 2 and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("seglab-report: error: no model of this sweep is in the baseline old")
    assert "baseline: z9" in stderr
    with pytest.raises(SystemExit):
        report_main([str(sweep), "--baseline", str(tmp_path / "missing")])
    assert "missing is not a folder" in capsys.readouterr().err


def test_every_cell_validating_once_is_a_dot_plot_per_model(tmp_path):
    """One validation per job (the CPU ablation's budget): val_miou.png shows the models
    side by side (dots per seed, mean ± std), not a column of dots on an epoch axis."""
    import matplotlib

    matplotlib.use("Agg")
    from seglab.reporting import plots

    sweep = write_sweep(tmp_path / "sweep")
    jobs = [read_job(sweep / str(n)) for n in range(9)]
    for j in jobs:  # write_job's CSV validates twice: keep its last validation only
        j.epochs, j.val_miou = j.epochs[-1:], j.val_miou[-1:]
    cells = group_by_seed(jobs)
    captured = {}
    original = plots._dots
    plots._dots = lambda ax, shown, when: captured.update(shown=shown) or original(ax, shown, when)
    try:
        plots.learning_curves(cells, tmp_path / "curves.png")
    finally:
        plots._dots = original
    assert [c.label for c, _ in captured["shown"]] == ["a1", "b1", "c1"]
    assert [v for _, v in captured["shown"]] == list(VALUES.values())
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_a_malformed_questions_file_is_one_line(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "sweep")
    bad = tmp_path / "bad.yaml"
    bad.write_text("questions:\n  - question: no sides\n")
    with pytest.raises(SystemExit) as exited:
        report_main([str(sweep), "--published", str(bad)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"seglab-report: error: {bad}: cannot read the questions (KeyError")
