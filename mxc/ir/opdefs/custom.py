"""``Custom``: operators written in Python by the user (MXNet's ``mx.operator.CustomOp``).

The IR sees an opaque operator. Its rules ask the user's ``CustomOpProp`` (list_arguments,
infer_shape, infer_type ...) and it runs as a host-callback extern step that calls the user's
``CustomOp.forward``; its vjp is a second opaque operator, ``_backward_Custom``, whose extern step
calls ``CustomOp.backward``. Fusion treats both as library calls and fuses around them.

The compiler core knows no frontend, so what turns torch tensors into ``mx.nd`` arrays and calls
the user's objects is an *implementation* registered here under the op_type by
:mod:`mxc.operator` (``register_custom(op_type, impl)``). An implementation provides:

- ``prop(kwargs: dict[str, str])``: the CustomOpProp instance made with those keyword
  arguments (MXNet passes them as strings);
- ``forward(key, is_train, ins, outs, aux)`` / ``backward(key, out_grad, in_data, out_data,
  in_grad, aux)``: run the user's operator on torch tensors (outputs preallocated, written in
  place); ``key`` identifies the operator instance (op node, kwargs, shapes, dtypes, device) so
  that forward and backward of one node share one ``CustomOp`` object, as in MXNet.

IR attributes: ``op_type``, ``kwargs`` (the user's keyword arguments as a JSON object of strings,
in the order given), ``node`` (the symbol's name: two Custom nodes never merge, and each keeps its
own CustomOp instance) and ``is_train``. The symbol frontend keeps MXNet's flat string attributes
(``op_type`` plus the kwargs), so ``tojson`` writes what MXNet writes.

Auxiliary states are mutable in MXNet's custom operators: the forward step receives them as
copies in extra hidden outputs (one per aux state), and ``aux_update`` hands those back, so the
runtime writes the user's changes to the aux arrays after a training forward.

Programs holding a Custom op call user Python objects, so they are never stored in the persistent
compile cache (the extern step references the operator by its registered op_type only while the
process lives); ``extra["host_callback"]`` marks them.
"""
from __future__ import annotations

import json

import numpy as np

from ...base import AttrError, MXNetError, ShapeError, op_prefix
from ..attrs import Attr
from ..registry import Extern, OpDef, register_op
from ..types import DType

__all__ = [
    "CustomOpError",
    "custom_impl",
    "custom_prop",
    "is_loss_op",
    "register_custom",
    "registered_custom",
    "unregister_custom",
]


class CustomOpError(MXNetError):
    """A custom operator's Prop or CustomOp misbehaved (wrong arity, bad return value)."""


_IMPLS: dict[str, object] = {}


def register_custom(op_type: str, impl) -> None:
    _IMPLS[op_type] = impl


def unregister_custom(op_type: str) -> None:
    _IMPLS.pop(op_type, None)


def registered_custom() -> list[str]:
    return list(_IMPLS)


def custom_impl(op_type: str, where: str = "Custom"):
    impl = _IMPLS.get(op_type)
    if impl is None:
        known = ", ".join(sorted(_IMPLS)) or "none"
        raise AttrError(f"{where}: cannot find custom operator op_type={op_type!r}; register its "
                        f"CustomOpProp with @mx.operator.register({op_type!r}) first "
                        f"(registered: {known})")
    return impl


def _kwargs(attrs: dict) -> dict:
    return json.loads(attrs["kwargs"]) if attrs.get("kwargs") else {}


def custom_prop(attrs: dict, name: str | None = None):
    """The Prop instance for typed Custom attrs."""
    where = op_prefix("Custom", name or attrs.get("node") or None)
    return custom_impl(attrs["op_type"], where).prop(_kwargs(attrs))


def _where(attrs, name=None) -> str:
    return (f"{op_prefix('Custom', name or attrs.get('node') or None)} "
            f"(op_type={attrs.get('op_type')!r})")


def _names(attrs, what):
    prop = custom_prop(attrs)
    got = getattr(prop, what)()
    if not isinstance(got, (list, tuple)) or not all(isinstance(n, str) for n in got):
        raise CustomOpError(f"{_where(attrs)}: {type(prop).__name__}.{what}() must return a "
                            f"list of strings; got {got!r}")
    return list(got)


def _n_args(attrs):
    return len(_names(attrs, "list_arguments"))


def _n_out(attrs):
    return len(_names(attrs, "list_outputs"))


def _n_aux(attrs):
    return len(_names(attrs, "list_auxiliary_states"))


def is_loss_op(op) -> bool:
    """Custom ops whose Prop says ``need_top_grad=False`` take no head gradient (autodiff treats
    them like loss layers)."""
    return op.opname == "Custom" and not getattr(custom_prop(op.attrs), "need_top_grad_", True)


# -- attribute handling -----------------------------------------------------------------------
_SCHEMA = (
    Attr("op_type", "str", doc="the name the CustomOpProp was registered under"),
    Attr("kwargs", "str", "", doc="the Prop's keyword arguments: a JSON object of strings"),
    Attr("node", "str", "", doc="the symbol's name (keeps distinct Custom nodes apart)"),
)


def _is_ir_form(raw: dict) -> bool:
    """Typed IR attributes (the printer leaves out defaults) rather than MXNet's flat strings.
    (A Prop keyword argument named ``node`` or ``kwargs`` is therefore not supported.)"""
    return ("kwargs" in raw or "node" in raw) and set(raw) <= {"op_type", "kwargs", "node",
                                                                "is_train"}


class CustomOpDef(OpDef):
    """An OpDef whose attribute schema is open: every keyword but op_type goes to the Prop."""

    def parse_attrs(self, raw: dict, name: str | None = None) -> dict:
        where = op_prefix(self.name, name)
        raw = {k: v for k, v in raw.items() if not (k.startswith("__") and k.endswith("__"))}
        if "op_type" not in raw or raw["op_type"] in (None, ""):
            raise AttrError(f"{where}: required attribute 'op_type' (the name a CustomOpProp "
                            "was registered under) is missing")
        if _is_ir_form(raw):
            kw = raw.get("kwargs", "")
            if isinstance(kw, str) and kw:
                try:
                    parsed = json.loads(kw)
                except ValueError as e:
                    raise AttrError(f"{where}: attribute kwargs={kw!r} is not a JSON object") \
                        from e
                if not isinstance(parsed, dict):
                    raise AttrError(f"{where}: attribute kwargs={kw!r} is not a JSON object")
            node = str(raw.get("node", ""))
            is_train = raw.get("is_train", False)
            if isinstance(is_train, str):
                is_train = is_train.lower() in ("true", "1")
            attrs = {"op_type": str(raw["op_type"]), "kwargs": str(kw or ""), "node": node,
                     "is_train": bool(is_train)}
        else:
            is_train = raw.pop("is_train", False)
            if isinstance(is_train, str):
                is_train = is_train.lower() in ("true", "1")
            # sorted: the order MXNet stores attributes in, so a loaded symbol's IR is the same
            kwargs = {str(k): _kw_str(v) for k, v in sorted(raw.items()) if k != "op_type"}
            attrs = {"op_type": str(raw["op_type"]),
                     "kwargs": json.dumps(kwargs) if kwargs else "",
                     "node": name or "", "is_train": bool(is_train)}
        custom_prop(attrs, name)       # the op_type must be registered; the Prop is made now
        return attrs


def _kw_str(v) -> str:
    if isinstance(v, str):
        return v
    return str(v)


# -- shape and type rules -----------------------------------------------------------------------
def _as_shape(s, what, attrs):
    try:
        return tuple(int(d) for d in s)
    except (TypeError, ValueError):
        raise CustomOpError(f"{_where(attrs)}: infer_shape returned {s!r} for {what}; expected "
                            "a tuple of integers") from None


def _check_arity(attrs, got, want, what, fn):
    if not isinstance(got, (list, tuple)) or len(got) != want:
        n = len(got) if isinstance(got, (list, tuple)) else type(got).__name__
        raise CustomOpError(f"{_where(attrs)}: {fn} returned {n} {what}; the Prop lists {want}")


def _custom_shape(rc, shapes):
    attrs = rc.attrs
    prop = custom_prop(attrs, rc.name)
    na, no, nx = _n_args(attrs), _n_out(attrs), _n_aux(attrs)
    n_outs = no + nx
    complete = [s is not None and all(d is not None for d in s) for s in shapes]
    if not any(complete[:na]):
        return list(shapes), [None] * n_outs
    given = [list(s) if ok else [] for s, ok in zip(shapes, complete)]
    try:
        ret = prop.infer_shape(given[:na])
    except Exception as e:
        if not all(complete[:na]):
            return list(shapes), [None] * n_outs     # needs shapes not known yet
        _name_exception(e, attrs, "infer_shape")
        raise
    if not isinstance(ret, (list, tuple)) or len(ret) not in (2, 3):
        raise CustomOpError(f"{_where(attrs, rc.name)}: {type(prop).__name__}.infer_shape must "
                            f"return (in_shapes, out_shapes[, aux_shapes]); got {ret!r}")
    ish, osh = ret[0], ret[1]
    ash = ret[2] if len(ret) == 3 else []
    fn = f"{type(prop).__name__}.infer_shape"
    _check_arity(attrs, ish, na, "input shapes", fn)
    _check_arity(attrs, osh, no, "output shapes", fn)
    _check_arity(attrs, ash, nx, "auxiliary state shapes", fn)
    ish = [_as_shape(s, "an input", attrs) for s in ish]
    osh = [_as_shape(s, "an output", attrs) for s in osh]
    ash = [_as_shape(s, "an auxiliary state", attrs) for s in ash]
    names = _names(attrs, "list_arguments") + _names(attrs, "list_auxiliary_states")
    ins = []
    for i, (s, new) in enumerate(zip(shapes, ish + ash)):
        if s is not None and (len(s) != len(new) or
                              any(a is not None and a != b for a, b in zip(s, new))):
            raise ShapeError(f"{_where(attrs, rc.name)}: {names[i]} has shape "
                             f"{tuple(s)}; the Prop's infer_shape expects {new}")
        ins.append(new)
    return ins, osh + ash


def _np_type(d):
    return None if d is None else np.dtype(d.np_name).type


def _custom_dtype(rc, dtypes):
    attrs = rc.attrs
    prop = custom_prop(attrs, rc.name)
    na, no, nx = _n_args(attrs), _n_out(attrs), _n_aux(attrs)
    if all(d is None for d in dtypes[:na]):
        return list(dtypes), [None] * (no + nx)
    given = [_np_type(d) for d in dtypes]
    try:
        ret = prop.infer_type(given[:na])
    except Exception as e:
        if any(d is None for d in dtypes[:na]):
            return list(dtypes), [None] * (no + nx)
        _name_exception(e, attrs, "infer_type")
        raise
    if not isinstance(ret, (list, tuple)) or len(ret) not in (2, 3):
        raise CustomOpError(f"{_where(attrs, rc.name)}: {type(prop).__name__}.infer_type must "
                            f"return (in_types, out_types[, aux_types]); got {ret!r}")
    it, ot = ret[0], ret[1]
    at = ret[2] if len(ret) == 3 else [it[0]] * nx if it else []
    fn = f"{type(prop).__name__}.infer_type"
    _check_arity(attrs, it, na, "input types", fn)
    _check_arity(attrs, ot, no, "output types", fn)
    _check_arity(attrs, at, nx, "auxiliary state types", fn)

    def dt(x):
        return None if x is None else DType.parse(x)
    ins = [dt(x) for x in list(it) + list(at)]
    for i, (d, new) in enumerate(zip(dtypes, ins)):
        if d is not None and new is not None and d != new:
            raise rc.dtype_error(f"input {i} has dtype {d.np_name}; the Prop's infer_type "
                                 f"expects {new.np_name}")
    return ins, [dt(x) for x in ot] + [dt(x) for x in at]


# -- execution -----------------------------------------------------------------------------------
def _key(attrs, in_data):
    return (attrs["op_type"], attrs.get("kwargs", ""), attrs.get("node", ""),
            tuple(tuple(t.shape) for t in in_data), tuple(str(t.dtype) for t in in_data),
            str(in_data[0].device) if in_data else "cpu")


def _custom_forward(attrs, ins, outs):
    impl = custom_impl(attrs["op_type"], _where(attrs))
    na, no = _n_args(attrs), _n_out(attrs)
    data, aux_in = list(ins[:na]), list(ins[na:])
    vis, aux_out = list(outs[:no]), list(outs[no:])
    for o in vis:
        o.zero_()
    for src, dst in zip(aux_in, aux_out):
        dst.copy_(src)
    _call(attrs, "forward", impl.forward, _key(attrs, data), bool(attrs.get("is_train")),
          data, vis, aux_out)


def _bwd_layout(attrs):
    prop = custom_prop(attrs)
    na, no, nx = _n_args(attrs), _n_out(attrs), _n_aux(attrs)
    ng = no if getattr(prop, "need_top_grad_", True) else 0
    return ng, na, no, nx


def _custom_backward(attrs, ins, outs):
    impl = custom_impl(attrs["op_type"], _where(attrs))
    ng, na, no, _ = _bwd_layout(attrs)
    ins = list(ins)
    og = ins[:ng]
    data = ins[ng:ng + na]
    od = ins[ng + na:ng + na + no]
    aux = ins[ng + na + no:]
    for o in outs:
        o.zero_()
    _call(attrs, "backward", impl.backward, _key(attrs, data), og, data, od, list(outs), aux)


def _name_exception(e, attrs, what):
    """Put the operator into a user exception's message (it propagates as the same object, so
    ``except ValueError`` in the user's script still catches it)."""
    if isinstance(e, MXNetError):
        return
    prefix = f"{_where(attrs)}: {what} raised: "
    if e.args and isinstance(e.args[0], str):
        if not e.args[0].startswith(prefix):
            e.args = (prefix + e.args[0],) + tuple(e.args[1:])
    elif not e.args:
        e.args = (prefix + type(e).__name__,)
    else:
        e.add_note(prefix.rstrip(": "))


def _call(attrs, what, fn, *args):
    try:
        fn(*args)
    except Exception as e:
        _name_exception(e, attrs, what)
        raise


def _custom_interp(xs, attrs):
    import torch
    shapes = [tuple(x.shape) for x in xs]
    from ..registry import RuleCtx
    rc = RuleCtx(CUSTOM, attrs, attrs.get("node") or None)
    _, oshapes = _custom_shape(rc, shapes)
    _, odt = _custom_dtype(rc, [DType.parse(x.dtype) for x in xs])
    ins = [torch.from_numpy(np.ascontiguousarray(x)).clone() for x in xs]
    outs = [torch.zeros(s, dtype=d.torch) for s, d in zip(oshapes, odt)]
    _custom_forward(attrs, ins, outs)
    return tuple(o.numpy() for o in outs)


def _custom_vjp(b, op, g):
    attrs = op.attrs
    ng, na, no, nx = _bwd_layout(attrs)
    data = list(op.inputs[:na])
    aux = list(op.outputs[no:])     # the states as forward left them (MXNet mutates in place)
    outs = list(op.outputs[:no])
    if ng:
        gs = list(g) if isinstance(g, (list, tuple)) else [g]
        gs = gs[:no]
        gs = [x if x is not None else b.zeros_like(v) for x, v in zip(gs, outs)]
    else:
        gs = []
    battrs = {"op_type": attrs["op_type"], "kwargs": attrs.get("kwargs", ""),
              "node": attrs.get("node", "")}
    res = b.op("_backward_Custom", gs + data + outs + aux, battrs, parsed=True,
               out_types=[v.type for v in data])
    res = list(res) if isinstance(res, tuple) else [res]
    return res + [None] * nx


def _bwd_shape(rc, shapes):
    ng, na, _, _ = _bwd_layout(rc.attrs)
    return list(shapes), list(shapes[ng:ng + na])


def _bwd_dtype(rc, dtypes):
    ng, na, _, _ = _bwd_layout(rc.attrs)
    return list(dtypes), list(dtypes[ng:ng + na])


def _bwd_interp(xs, attrs):
    import torch
    ng, na, _, _ = _bwd_layout(attrs)
    ins = [torch.from_numpy(np.ascontiguousarray(x)).clone() for x in xs]
    outs = [torch.zeros_like(t) for t in ins[ng:ng + na]]
    _custom_backward(attrs, ins, outs)
    return tuple(o.numpy() for o in outs)


def _aux_update(b, op):
    na, no, nx = _n_args(op.attrs), _n_out(op.attrs), _n_aux(op.attrs)
    return [(na + k, op.outputs[no + k]) for k in range(nx)]


def _bwd_args(attrs):
    ng, na, no, nx = _bwd_layout(attrs)
    return ([f"out_grad{i}" for i in range(ng)] + [f"in_data{i}" for i in range(na)]
            + [f"out_data{i}" for i in range(no)] + [f"aux{i}" for i in range(nx)])


class _BackwardDef(OpDef):
    def parse_attrs(self, raw: dict, name: str | None = None) -> dict:
        where = op_prefix(self.name, name)
        if not raw.get("op_type"):
            raise AttrError(f"{where}: required attribute 'op_type' is missing")
        unknown = [k for k in raw if k not in ("op_type", "kwargs", "node")]
        if unknown:
            raise AttrError(f"{where}: unknown attributes {unknown}; accepted: op_type, "
                            "kwargs, node")
        attrs = {"op_type": str(raw["op_type"]), "kwargs": str(raw.get("kwargs") or ""),
                 "node": str(raw.get("node") or "")}
        custom_prop(attrs, name)
        return attrs


CUSTOM = register_op(CustomOpDef(
    name="Custom",
    attrs=_SCHEMA,
    arguments=lambda a: _names(a, "list_arguments"),
    aux=lambda a: _names(a, "list_auxiliary_states"),
    outputs=lambda a: _names(a, "list_outputs") + [
        f"{n}_updated" for n in _names(a, "list_auxiliary_states")],
    num_visible_outputs=_n_out,
    infer_shape=_custom_shape, infer_dtype=_custom_dtype,
    interp=_custom_interp, vjp=_custom_vjp,
    lower=Extern(_custom_forward, "custom"),
    mode_dependent=True,
    aux_update=_aux_update,
    doc="A Python operator: calls the CustomOpProp registered as op_type "
        "(mx.operator.register); other keyword arguments go to the Prop's __init__ as strings.",
    extra={"host_callback": True, "is_loss": is_loss_op},
))

register_op(_BackwardDef(
    name="_backward_Custom",
    attrs=_SCHEMA,
    arguments=_bwd_args,
    outputs=lambda a: [f"in_grad{i}" for i in range(_n_args(a))],
    infer_shape=_bwd_shape, infer_dtype=_bwd_dtype,
    interp=_bwd_interp, differentiable=False,
    lower=Extern(_custom_backward, "custom_backward"),
    doc="The gradient of a Custom operator: calls its CustomOp.backward.",
    extra={"host_callback": True},
))
