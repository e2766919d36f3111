"""Read an exported ONNX file back and check it the way Unity's model loader does.

Unity (``SentisModelParamLoader``) refuses a model whose version, inputs or action
outputs do not fit the agent's Behavior Parameters; this check makes the same
comparisons against the scene's behavior spec, so a mismatch shows here and not
in the Editor. ``contract_table`` is what ``unity-nb export`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .export import CONTRACT_VERSION, Contract

LOADABLE_OPSETS = range(7, 16)  # Unity Inference Engine 2.x
ELEMENT_TYPES = {1: "float", 7: "int64", 6: "int32"}


@dataclass
class ContractReport:
    """What the file holds and whether Unity would take it for this behavior."""

    path: Path
    opset: int
    inputs: dict[str, tuple[str, list]] = field(default_factory=dict)  # name -> (type, shape)
    outputs: dict[str, tuple[str, list]] = field(default_factory=dict)
    constants: dict[str, list] = field(default_factory=dict)  # version_number, memory_size, *_output_shape
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def rows(self) -> list[dict]:
        """One row per tensor: direction, name, type, shape, value (for the constants)."""
        rows = []
        for direction, tensors in (("input", self.inputs), ("output", self.outputs)):
            for name, (kind, shape) in tensors.items():
                value = self.constants.get(name)
                rows.append({"": direction, "name": name, "type": kind, "shape": _shape_text(shape),
                             "value": "" if value is None else _value_text(value)})
        return rows

    def __str__(self):
        rows = self.rows()
        widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in rows[0]}
        lines = ["  ".join(f"{k:{widths[k]}s}" for k in widths)]
        lines += ["  ".join(f"{str(r[k]):{widths[k]}s}" for k in widths) for r in rows]
        verdict = "fits Unity's model contract" if self.ok else "does NOT fit: " + "; ".join(self.problems)
        return "\n".join(lines + [f"opset {self.opset}; {verdict}"])

    def _repr_html_(self):
        rows = self.rows()
        head = "".join(f"<th>{k}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{r[k]}</td>" for k in r) + "</tr>" for r in rows)
        verdict = "fits Unity's model contract" if self.ok else "does NOT fit: " + "; ".join(self.problems)
        return f"<table><caption>{self.path.name} (opset {self.opset})</caption><tr>{head}</tr>{body}</table><p>{verdict}</p>"


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _value_text(value) -> str:
    flat = np.asarray(value).ravel().tolist()
    return ", ".join(f"{v:g}" for v in flat)


def _tensor_type(value_info) -> tuple[str, list]:
    t = value_info.type.tensor_type
    return ELEMENT_TYPES.get(t.elem_type, str(t.elem_type)), [d.dim_param or d.dim_value for d in t.shape.dim]


def _constant_outputs(model, names) -> dict[str, list]:
    """The values of outputs computed from no input (Unity reads them as the model's constants)."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in i.shape]
        feeds[i.name] = np.ones(shape, dtype=np.float32)
    values = session.run(list(names), feeds)
    return {n: v.tolist() for n, v in zip(names, values)}


def check_contract(path: str | Path, expected: Contract) -> ContractReport:
    """Read ``path`` back and compare it with what the behavior needs (``expected``)."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    report = ContractReport(path, opset)
    report.inputs = {i.name: _tensor_type(i) for i in model.graph.input}
    report.outputs = {o.name: _tensor_type(o) for o in model.graph.output}
    constants = [n for n in ("version_number", "memory_size", "continuous_action_output_shape",
                             "discrete_action_output_shape") if n in report.outputs]
    report.constants = _constant_outputs(model, constants)
    problems = report.problems
    if opset not in LOADABLE_OPSETS:
        problems.append(f"opset {opset}: Unity's inference engine loads opsets 7-15")
    if list(report.outputs)[:2] != ["version_number", "memory_size"]:
        problems.append("the first outputs must be version_number and memory_size")
    if report.constants.get("version_number") != [float(CONTRACT_VERSION)]:
        problems.append(f"version_number is {report.constants.get('version_number')}, Unity expects [3.0]")
    if report.constants.get("memory_size") != [0.0]:
        problems.append(f"memory_size is {report.constants.get('memory_size')}, expected [0.0] (no memory)")
    for name in expected.input_names:
        if name not in report.inputs:
            problems.append(f"input {name} is missing")
    for i, (sensor, shape) in enumerate(zip(expected.observation_shapes, expected.input_shapes)):
        got = report.inputs.get(f"obs_{i}", (None, []))[1]
        if got and list(got[1:]) != list(shape):
            camera = f" (a camera: the input is channels first, [batch, {', '.join(map(str, shape))}])" \
                if len(sensor) == 3 else ""
            problems.append(f"obs_{i} has shape {_shape_text(got)}, the behavior's sensor gives {list(sensor)}{camera}")
    if expected.discrete_branches:
        got = report.inputs.get("action_masks", (None, []))[1]
        if got and got[1:] != [sum(expected.discrete_branches)]:
            problems.append(f"action_masks has shape {_shape_text(got)}, expected [batch, {sum(expected.discrete_branches)}]")
    if list(report.outputs) != expected.output_names:
        problems.append(f"outputs are {list(report.outputs)}, expected {expected.output_names} in this order")
    if expected.continuous_size and report.constants.get("continuous_action_output_shape") != [
            float(expected.continuous_size)]:
        problems.append(f"continuous_action_output_shape is {report.constants.get('continuous_action_output_shape')}, "
                        f"the behavior has {expected.continuous_size} continuous actions")
    if expected.discrete_branches and report.constants.get("discrete_action_output_shape") != [
            [float(b) for b in expected.discrete_branches]]:
        problems.append(f"discrete_action_output_shape is {report.constants.get('discrete_action_output_shape')}, "
                        f"the behavior's branches are {list(expected.discrete_branches)}")
    for name in ("discrete_actions", "deterministic_discrete_actions"):
        if name in report.outputs and report.outputs[name][0] != "int64":
            problems.append(f"{name} is {report.outputs[name][0]}, Unity reads action indices as int64")
    for name, (kind, shape) in {**report.inputs, **report.outputs}.items():
        if name not in constants and (not shape or shape[0] != "batch"):
            problems.append(f"{name}: the first axis must be the dynamic 'batch' axis, got {_shape_text(shape)}")
    return report
