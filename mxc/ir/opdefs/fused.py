"""``fused``: a group of primitives that codegen turns into one kernel.

The fusion pass builds it; its body is a nested Graph of primitives, its inputs the values the
group reads from outside, its outputs the values used after it. Its types are its body's.
"""
from __future__ import annotations

from ..attrs import Attr
from ..registry import OpDef, register_op


def _body_shapes(rc, shapes):
    if rc.body is None:
        raise rc.shape_error("fused op without a body")
    return [v.shape for v in rc.body.inputs], [v.shape for v in rc.body.outputs]


def _body_dtypes(rc, dtypes):
    return [v.dtype for v in rc.body.inputs], [v.dtype for v in rc.body.outputs]


register_op(OpDef(
    name="fused",
    attrs=(Attr("kernel", "str", "", doc="kernel name, from the MXNet ops it came from"),
           Attr("num_outputs", "int", 1, check=lambda v: None if 1 <= v <= 65536 else
                "is not accepted; expected 1 <= num_outputs <= 65536")),
    arguments=lambda attrs: [],
    outputs=lambda attrs: [f"output{i}" for i in range(attrs["num_outputs"])],
    infer_shape=_body_shapes, infer_dtype=_body_dtypes,
    interp=None,            # interp evaluates the body
    vjp=None, differentiable=False,
    lower=None,             # codegen lowers the body as one kernel
    doc="A fused group of primitives (one kernel); see mxc.passes.fuse.",
))
