"""Writing the inference graph: ONNX through ``torch.export`` (the exporter's own
analysis decides which dimensions stay dynamic), TorchScript by tracing. Each returns
the sizes the written file accepts; a graph that cannot keep dynamic sizes is written
at the example's size and says why."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seglab.deploy.metadata import to_strings
from seglab.errors import SeglabError, require

# the optional ``export`` extra's packages
EXPORT_EXTRA = "pip install 'seglab[export]' (make install includes it)"

log = logging.getLogger("seglab.export")
TORCHSCRIPT_META = "seglab.json"  # the extra file holding the metadata


def fixed_size_reason(net: nn.Module) -> str | None:
    """A submodule's own reason (attribute ``onnx_fixed_reason``) to be exported at one
    size, known before trying (valid U-Net: the try would hang)."""
    for module in net.modules():
        reason = getattr(module, "onnx_fixed_reason", None)
        if reason:
            return reason
    return None


def _exported_program(net: nn.Module, example: Tensor, dynamic: bool) -> tuple[Any, str | None]:
    auto = torch.export.Dim.AUTO
    why = fixed_size_reason(net) if dynamic else None
    if dynamic and not why:
        try:
            dims = {0: auto, 2: auto, 3: auto}
            return torch.export.export(net, (example,), dynamic_shapes=(dims,), strict=False), None
        except Exception as exc:  # the exporter's reason, kept for the metadata
            why = f"torch.export could not keep H and W dynamic: {str(exc).splitlines()[0][:200]}"
    if why:
        log.warning("%s; exporting at %d×%d", why, *example.shape[-2:])
    try:
        return torch.export.export(net, (example,), dynamic_shapes=({0: auto},), strict=False), why
    except Exception as exc:
        raise SeglabError(f"torch.export failed: {type(exc).__name__}: {exc}") from None


def export_onnx(
    net: nn.Module, path: Path, example: Tensor, dynamic: bool, meta: dict[str, Any]
) -> dict[str, Any]:
    """``net`` as an ONNX file at ``path`` (input ``pixels``, output ``scores``) with
    ``meta`` (plus the accepted sizes) in its ``metadata_props``; returns the sizes."""
    onnx = require("onnx", "format=onnx", EXPORT_EXTRA)
    require("onnxscript", "format=onnx (torch's exporter)", EXPORT_EXTRA)
    program, why = _exported_program(net, example, dynamic)
    sizes = {**meta["sizes"], "dynamic": bool(dynamic and not why)}
    if not sizes["dynamic"]:
        sizes.update(fixed=list(example.shape[-2:]), why_fixed=why or "dynamic=false")
    quiet = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript")]
    levels = [logger.level for logger in quiet]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in quiet:  # the optimiser logs every folded initializer at INFO
            logger.setLevel(logging.WARNING)
        onnx_program = torch.onnx.export(
            program,
            (example,),
            dynamo=True,
            input_names=["pixels"],
            output_names=["scores"],
            optimize=True,
            verbose=False,
        )
    for logger, level in zip(quiet, levels, strict=True):
        logger.setLevel(level)
    tmp = path.with_name(path.name + ".tmp")
    onnx_program.save(str(tmp), external_data=False)
    model = onnx.load(str(tmp))
    os.unlink(tmp)
    _name_dimensions(model.graph)
    del model.metadata_props[:]
    for key, value in to_strings({**meta, "sizes": sizes}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    if sizes["dynamic"]:
        failure = _fails_at_another_size(path, example)
        if failure:  # e.g. a GRU whose initial state kept the example's batch of rows
            log.warning("%s; exporting at %d×%d", failure, *example.shape[-2:])
            fixed = export_onnx(net, path, example, False, meta)
            return {**fixed, "why_fixed": failure}
    return sizes


def _fails_at_another_size(path: Path, example: Tensor) -> str | None:
    """ONNX Runtime's error at a second size, or None: ``torch.export`` can keep a
    dimension symbolic while an operator's ONNX form still holds the example's size."""
    ort = require("onnxruntime", "format=onnx", EXPORT_EXTRA)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    height, width = example.shape[-2:]
    pixels = (torch.rand(1, 3, height + 13, width + 7) * 255).numpy()
    try:
        session.run(None, {session.get_inputs()[0].name: pixels})
    except Exception as exc:
        first = str(exc).strip().splitlines()[0]
        return f"ONNX Runtime fails at another size ({first[-160:]})"
    return None


def _name_dimensions(graph: Any) -> None:
    """The exporter's symbols (``s81``) renamed ``batch``, ``height``, ``width`` after
    the input's axes, everywhere they appear, so a viewer shows what varies."""
    dims = graph.input[0].type.tensor_type.shape.dim
    names = {d.dim_param: n for d, n in zip(dims, ("batch", "", "height", "width")) if n}
    names.pop("", None)
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in names:
                dim.dim_param = names[dim.dim_param]


def export_torchscript(
    net: nn.Module, path: Path, example: Tensor, dynamic: bool, meta: dict[str, Any]
) -> dict[str, Any]:
    """``net`` traced to TorchScript at ``path`` with ``meta`` as the extra file
    ``seglab.json``. A trace records one run; it stays valid at other sizes only if
    shapes flowed through tensor ops, which is checked at a second size."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the second size decides
        traced = torch.jit.trace(net, example, check_trace=False)
    why = _trace_is_fixed(net, traced, example) if dynamic else "dynamic=false"
    sizes = {**meta["sizes"], "dynamic": not why}
    if why:
        sizes.update(fixed=list(example.shape[-2:]), why_fixed=why)
        if dynamic:
            log.warning("%s; the TorchScript file takes %d×%d only", why, *example.shape[-2:])
    extra = {TORCHSCRIPT_META: json.dumps({**meta, "sizes": sizes})}
    torch.jit.save(traced, str(path), _extra_files=extra)
    return sizes


def _trace_is_fixed(net: nn.Module, traced: Any, example: Tensor) -> str | None:
    height, width = example.shape[-2:]
    other = torch.rand(1, 3, height + 13, width + 7) * 255
    with torch.no_grad():
        want = net(other)
        try:
            got = traced(other)
        except Exception as exc:
            return f"the trace fails at another size: {str(exc).splitlines()[0][:200]}"
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
        return "the trace hard-codes its example's size (shapes became constants)"
    return None


def read_torchscript(path: Path) -> tuple[Any, dict[str, Any]]:
    """A TorchScript file written by ``export_torchscript`` and its metadata."""
    extra = {TORCHSCRIPT_META: ""}
    module = torch.jit.load(str(path), _extra_files=extra, map_location="cpu")
    return module, json.loads(extra[TORCHSCRIPT_META] or "{}")
