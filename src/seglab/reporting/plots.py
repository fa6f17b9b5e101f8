"""The report's figures, each of which says something for a sweep whose jobs validate
once as well as for one that validates every epoch:

* ``val_miou.png``: train loss per epoch and val mIoU per validation, per model: mean
  line ± std band over seeds (a cell that validated once is a dot with its ± std bar),
  or, when every job validated once, a dot plot (one dot per seed, the mean ± std beside);
* ``ablation.png``: mean ± std bars per model and metric;
* ``forest.png``: every question's difference with its 95% interval, the published
  effect as a marker, zero as a line.
"""

from __future__ import annotations

from pathlib import Path

from seglab.reporting.cells import METRICS, Cell
from seglab.reporting.jobs import Job
from seglab.reporting.replication import Comparison


def write_figures(cells: list[Cell], found: list[Comparison], out: Path) -> list[Path]:
    """The three figures, written into ``out``."""
    return [
        learning_curves(cells, out / "val_miou.png"),
        ablation_bars(cells, out / "ablation.png"),
        forest(found, out / "forest.png"),
    ]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _band(ax, epochs: list[int], values: list[list[float]], label: str):
    """Mean line ± sample-std band over the values at each epoch."""
    import statistics

    means = [statistics.fmean(v) for v in values]
    stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    (line,) = ax.plot(epochs, means, marker=".", label=label)
    ax.fill_between(epochs, [m - d for m, d in zip(means, stds)],
                    [m + d for m, d in zip(means, stds)], alpha=0.2,
                    color=line.get_color())  # fmt: skip
    return line


def _per_epoch(jobs: list[Job], series: str) -> tuple[list[int], list[list[float]]]:
    """A cell's values per epoch over its seeds (``train_loss`` or ``val_miou``)."""
    at: dict[int, list[float]] = {}
    for j in jobs:
        points = j.train_loss.items() if series == "train_loss" else zip(j.epochs, j.val_miou)
        for epoch, value in points:
            at.setdefault(epoch, []).append(value)
    epochs = sorted(at)
    return epochs, [at[e] for e in epochs]


def learning_curves(cells: list[Cell], path: Path) -> Path:
    import matplotlib.ticker

    plt = _pyplot()
    fig, (loss_ax, ax) = plt.subplots(1, 2, figsize=(14, 5))
    for cell in cells:
        epochs, values = _per_epoch(cell.jobs, "train_loss")
        if epochs:
            _band(loss_ax, epochs, values, f"{cell.label} (n={len(cell.jobs)})")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("train loss (epoch mean)")
    loss_ax.set_title("train loss per epoch, mean ± std over seeds")
    loss_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    loss_ax.grid(alpha=0.3)
    if loss_ax.lines:
        loss_ax.legend(fontsize=7)
    validated = [(c, *_per_epoch(c.jobs, "val_miou")) for c in cells]
    validated = [(c, e, v) for c, e, v in validated if e]
    if validated and all(len(e) == 1 for _, e, _ in validated):
        _dots(ax, [(c, v[0]) for c, _, v in validated], f"epoch {validated[0][1][0]}")
    else:
        for cell, epochs, values in validated:
            label = f"{cell.label} (n={len(cell.jobs)})"
            if len(epochs) == 1:  # one validation: a dot with its spread
                _mean_std_marker(ax, epochs[0], values[0], label)
            else:
                _band(ax, epochs, values, label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title("val mIoU at each validation, mean ± std over seeds")
        if validated:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("val mIoU")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _mean_std_marker(ax, x: float, values: list[float], label: str) -> None:
    import statistics

    std = statistics.stdev(values) if len(values) > 1 else 0.0
    ax.errorbar([x], [statistics.fmean(values)], yerr=[std], fmt="o", capsize=4, label=label)


def _dots(ax, cells: list[tuple[Cell, list[float]]], when: str) -> None:
    """Every job validated once: each model's seeds as dots, its mean ± std beside."""
    import statistics

    for i, (_, values) in enumerate(cells):
        spread = [i - 0.12 + 0.24 * k / max(1, len(values) - 1) for k in range(len(values))]
        ax.scatter(spread, values, s=18, color="tab:blue", alpha=0.7,
                   label="one seed" if i == 0 else None)  # fmt: skip
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        ax.errorbar([i + 0.3], [statistics.fmean(values)], yerr=[std], fmt="D",
                    color="black", capsize=4, label="mean ± std" if i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{c.label}\n(n={len(v)})" for c, v in cells], fontsize=8,
                       rotation=20, ha="right")  # fmt: skip
    ax.set_title(f"val mIoU per model ({when}, the jobs' one validation)")
    ax.legend(fontsize=7)


def ablation_bars(cells: list[Cell], path: Path) -> Path:
    """Each cell's mIoU per metric (val, val + CRF, test …), mean ± std over seeds."""
    plt = _pyplot()
    shown = [m for m in METRICS if any(c.values(m) for c in cells)] or ["val"]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(cells) * len(shown) + 2), 5))
    width = 0.8 / len(shown)
    top = 0.0
    for k, metric in enumerate(shown):
        stats = [c.stat(metric) for c in cells]
        xs = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(cells))]
        means = [st.mean if st else 0.0 for st in stats]
        errs = [st.std or 0.0 if st else 0.0 for st in stats]
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=METRICS[metric])
        for x, st in zip(xs, stats):
            if st:
                ax.text(x, st.mean + (st.std or 0), f"{st.mean:.3f}", ha="center",
                        va="bottom", fontsize=6)  # fmt: skip
        top = max(top, *(m + e for m, e in zip(means, errs)), 0.0)
    ax.set_ylim(0, top * 1.15 or 1)
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{c.label}\n(n={len(c.jobs)})" for c in cells], fontsize=8)
    ax.set_ylabel("mIoU (mean ± std over seeds)")
    ax.set_title("ablation: mIoU per model, mean ± std over seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def forest(found: list[Comparison], path: Path) -> Path:
    """One row per question and split: ours (dot, 95% interval), published (red
    diamond), zero (dashed line), the verdict at the right."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(found) + 1.5))
    for row, c in enumerate(reversed(found)):
        if c.interval is not None:
            ax.plot(c.interval, [row, row], color="tab:blue", lw=2)
        ax.plot([c.difference], [row], "o", color="tab:blue",
                label="ours, 95% interval" if row == 0 else None)  # fmt: skip
        if c.published is not None:
            ax.plot([c.published.fraction], [row], "D", color="tab:red", ms=7,
                    label="published" if not any(h.get_label() == "published"
                                                 for h in ax.lines) else None)  # fmt: skip
        verdict = c.verdict or ""
        ax.annotate(verdict, xy=(1.01, row), xycoords=("axes fraction", "data"), fontsize=7,
                    va="center")  # fmt: skip
    if not found:
        ax.text(0.5, 0.5, "no pair of the papers' questions is in this sweep", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set_yticks(range(len(found)))
    ax.set_yticklabels([f"{c.question} [{c.metric}]" for c in reversed(found)], fontsize=8)
    ax.set_xlabel("difference in mIoU (A − B, 0-1 scale)")
    ax.set_title("the papers' questions: ours (95% interval over seeds) and the published effect")
    ax.grid(axis="x", alpha=0.3)
    if found:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
