"""Per-parameter learning-rate and weight-decay multipliers (Caffe's ``lr_mult`` /
``decay_mult``), from a short list of rules in the model config.

A rule is ``{params: <glob or list of globs>, kind: any|weight|bias|norm, lr_mult,
decay_mult}``; parameter names are the network's (``head.fc.6.bias``,
``backbone.layer4.0.conv2.weight``); ``kind`` (one or a list) narrows a rule to biases,
normalisation layers' parameters or the remaining weights (``kind: [norm, bias],
decay_mult: 0``: weight decay on conv and linear weights only, as DeepLab v3). The first
rule that matches a parameter decides its multipliers; unmatched parameters get 1 and 1.
Frozen parameters (``requires_grad=False``: fixed FCN upsampling, frozen BN) are left out
of the optimizer.
Every group carries ``lr_mult`` and ``decay_mult``; schedulers scale every group's lr by
the same factor, so the ratios between groups hold for the whole run.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

log = logging.getLogger(__name__)

KINDS = ("any", "weight", "bias", "norm")
_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def _kinds(net: nn.Module) -> dict[str, str]:
    """``weight`` / ``bias`` / ``norm`` for each parameter name of ``net``."""
    kinds = {}
    for module_name, module in net.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if isinstance(module, _NORM_TYPES):
                kinds[full] = "norm"
            else:
                kinds[full] = "bias" if name == "bias" else "weight"
    return kinds


def _check_rule(i: int, rule: Mapping[str, Any]) -> tuple[list[str], list[str], float, float]:
    unknown = set(rule) - {"params", "kind", "lr_mult", "decay_mult"}
    if unknown:
        raise ValueError(
            f"model.param_groups[{i}] has unknown keys {sorted(unknown)}; a rule takes "
            "params, kind, lr_mult, decay_mult"
        )
    patterns = rule.get("params", "*")
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    kind = rule.get("kind", "any")
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(
            f"model.param_groups[{i}].kind must be one of {KINDS} or a list of them, got {kind!r}"
        )
    return patterns, kinds, float(rule.get("lr_mult", 1.0)), float(rule.get("decay_mult", 1.0))


def param_groups(
    net: nn.Module, rules: Sequence[Mapping[str, Any]] | None, lr: float, weight_decay: float
) -> list[dict[str, Any]]:
    """Optimizer parameter groups of ``net``'s trainable parameters under ``rules``."""
    checked = [_check_rule(i, r) for i, r in enumerate(rules or [])]
    kinds = _kinds(net)
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    used = [0] * len(checked)
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        mults = (1.0, 1.0)
        for i, (patterns, rule_kinds, lr_mult, decay_mult) in enumerate(checked):
            if ("any" in rule_kinds or kinds[name] in rule_kinds) and any(
                fnmatch.fnmatchcase(name, g) for g in patterns
            ):
                mults, used[i] = (lr_mult, decay_mult), used[i] + 1
                break
        group = groups.setdefault(
            mults,
            {
                "params": [],
                "names": [],
                "lr": lr * mults[0],
                "weight_decay": weight_decay * mults[1],
                "lr_mult": mults[0],
                "decay_mult": mults[1],
            },
        )
        group["params"].append(p)
        group["names"].append(name)
    for i, n in enumerate(used):
        if n == 0:
            log.warning(
                "model.param_groups[%d] (%s) matches no trainable parameter of this network",
                i,
                dict(rules[i]),
            )
    return list(groups.values())


def group_summary(groups: Iterable[Mapping[str, Any]]) -> str:
    """One line per group: multipliers and parameter count, for the run's log."""
    return "; ".join(
        f"lr×{g['lr_mult']:g} decay×{g['decay_mult']:g}: {len(g['params'])} tensors" for g in groups
    )
