"""Automatic mixed precision for symbolic models (MXNet 1.9.1's ``mx.contrib.amp``).

- :func:`convert_symbol` / :func:`convert_model` / :func:`convert_bucketing_module` insert
  ``amp_cast`` / ``amp_multicast`` operators by MXNet's rules; the conversion is the IR pass
  :class:`mxc.passes.amp.ReducePrecision` (the symbol is imported into the IR, converted, and
  read back as a Symbol whose JSON is what MXNet writes: ``tojson(remove_amp_cast=False)``
  shows the casts; ``tojson()`` drops them, as MXNet's does by default).
- :func:`init` makes ``mx.sym`` / ``mx.nd`` operators created afterwards cast their inputs by
  the lists (MXNet's wrappers), so a model written after ``amp.init()`` is mixed precision.
- The ``list_*`` functions give MXNet's operator lists, restricted to the operators mxc has
  (:mod:`mxc.contrib.amp.lists`).
- Loss scaling: :class:`~mxc.contrib.amp.loss_scaler.LossScaler` is MXNet's. ``init_trainer``,
  ``scale_loss``, ``unscale`` and ``convert_hybrid_block`` work on Gluon Trainers and blocks,
  which mxc does not have: they raise :class:`~mxc.base.UnsupportedError`. bfloat16 (the CPU
  target) needs no loss scaling. For float16 Module training mxc adds
  :class:`~mxc.contrib.amp.module.LossScalingModule` (an mxc name; MXNet 1.9.1 has no Module
  loss scaling): a Module whose loss outputs' gradients are multiplied by a runtime scale,
  which skips the update and halves the scale on overflow (``multi_all_finite``), unscales
  through the optimizer's ``rescale_grad``, and doubles the scale after ``scale_seq_len``
  clean steps (MXNet's LossScaler schedule).

``target_dtype`` is ``"float16"`` or ``"bfloat16"`` (also ``np.float16`` and MXNet's bfloat16
marker :data:`bfloat16`, ``np.dtype([('bfloat16', np.uint16)])``).
"""
from __future__ import annotations

import contextlib
import functools
import logging

import numpy as np

from ...base import DTypeError, MXNetError, UnsupportedError
from ...ir.types import DType
from . import lists
from .loss_scaler import LossScaler

_log = logging.getLogger("mxc.contrib.amp")

__all__ = [
    "bfloat16",
    "convert_bucketing_module",
    "convert_hybrid_block",
    "convert_model",
    "convert_symbol",
    "init",
    "init_trainer",
    "list_conditional_fp32_ops",
    "list_fp32_ops",
    "list_loss_output_functions",
    "list_lp16_fp32_ops",
    "list_lp16_ops",
    "list_lp16_use_fp32_params",
    "list_widest_type_cast",
    "scale_loss",
    "unscale",
]

bfloat16 = np.dtype([("bfloat16", np.uint16)])     # MXNet's numpy stand-in for bfloat16

_GLUON = ("mxc does not support Gluon (Trainer, HybridBlock), which {what} works on; for "
          "Module, convert the symbol with amp.convert_symbol / amp.convert_model (bfloat16 "
          "needs no loss scaling; for float16, amp.LossScalingModule is a Module with MXNet's dynamic "
          "loss-scaling schedule)")


def _dtype(target_dtype) -> DType:
    """float16 / bfloat16 from any of MXNet's spellings, else DTypeError."""
    if isinstance(target_dtype, np.dtype) and target_dtype == bfloat16:
        return DType.bf16
    if isinstance(target_dtype, str) and target_dtype in ("float16", "bfloat16"):
        return DType.parse(target_dtype)
    try:
        if target_dtype is not None and np.dtype(target_dtype) == np.float16:
            return DType.f16
    except TypeError:
        pass
    raise DTypeError(f"amp: target_dtype {target_dtype!r} is not supported; AMP supports "
                     "only 'float16' and 'bfloat16'")


def _lists(target_dtype):
    return lists.symbol_fp16 if _dtype(target_dtype) is DType.f16 else lists.symbol_bf16


def list_lp16_ops(target_dtype):
    """Operators cast to the low-precision ``target_dtype``."""
    m = _lists(target_dtype)
    return m.FP16_FUNCS if m is lists.symbol_fp16 else m.BF16_FUNCS


def list_fp32_ops(target_dtype):
    """Operators kept in float32."""
    return _lists(target_dtype).FP32_FUNCS


def list_lp16_fp32_ops(target_dtype):
    """Operators that run in either precision (the precision of their inputs)."""
    m = _lists(target_dtype)
    return m.FP16_FP32_FUNCS if m is lists.symbol_fp16 else m.BF16_FP32_FUNCS


def list_conditional_fp32_ops(target_dtype):
    """``(operator, attribute, [values])``: float32 when the attribute has one of the values."""
    return _lists(target_dtype).CONDITIONAL_FP32_FUNCS


def list_widest_type_cast(target_dtype):
    """Operators that run in the widest type of their inputs (``amp_multicast``)."""
    return _lists(target_dtype).WIDEST_TYPE_CASTS


def list_loss_output_functions(target_dtype):
    """Loss layers whose ``grad_scale`` dynamic loss scaling multiplies."""
    return _lists(target_dtype).LOSS_OUTPUT_FUNCTIONS


def list_lp16_use_fp32_params(target_dtype):
    """Per operator, the inputs that stay float32 in low precision (bfloat16 only; None for
    float16, as in MXNet)."""
    if _dtype(target_dtype) is DType.f16:
        return None
    return lists.symbol_bf16.BF16_USE_FP32_PARAMS


# -- convert_symbol ---------------------------------------------------------------------------------
def _canonical(name: str) -> str:
    from ...ir.registry import canonical_name
    return canonical_name(name)


def _canon(names) -> frozenset:
    return frozenset(_canonical(n) for n in names)


def _dtype_of(x) -> DType:
    """An NDArray's dtype as a DType (MXNet's bfloat16 marker included)."""
    d = x.dtype
    if isinstance(d, np.dtype) and d == bfloat16:
        return DType.bf16
    return DType.parse(d)


def _check_list(value, what):
    if value is not None and not isinstance(value, list):
        raise TypeError(f"amp.convert_symbol: {what} should be a list; got "
                        f"{type(value).__name__}")


def convert_symbol(sym, target_dtype="float16", target_dtype_ops=None, fp32_ops=None,
                   conditional_fp32_ops=None, excluded_sym_names=None, data_names=None,
                   cast_optional_params=False):
    """A copy of the float32 symbol ``sym`` with ``amp_cast`` / ``amp_multicast`` inserted as
    MXNet's ``convert_symbol`` inserts them (see :mod:`mxc.passes.amp` for the rules). The
    lists default to :func:`list_lp16_ops`, :func:`list_fp32_ops` and
    :func:`list_conditional_fp32_ops`; ``excluded_sym_names`` stay float32; ``data_names`` are
    the inputs that are data (default: inputs without ``__dtype__``); with
    ``cast_optional_params`` parameters read only in low precision are stored so
    (``__dtype__`` on the variable)."""
    from ...symbol.symbol import Symbol
    if not isinstance(sym, Symbol):
        raise TypeError(f"amp.convert_symbol: the first argument should be a Symbol; got "
                        f"{type(sym).__name__}")
    dt = _dtype(target_dtype)
    for v, what in ((target_dtype_ops, "target_dtype_ops"), (fp32_ops, "fp32_ops"),
                    (conditional_fp32_ops, "conditional_fp32_ops"),
                    (excluded_sym_names, "excluded_sym_names"), (data_names, "data_names")):
        _check_list(v, what)
    target_dtype_ops = list(list_lp16_ops(dt.np_name) if target_dtype_ops is None
                            else target_dtype_ops)
    fp32_ops = list(list_fp32_ops(dt.np_name) if fp32_ops is None else fp32_ops)
    conditional = list(list_conditional_fp32_ops(dt.np_name) if conditional_fp32_ops is None
                       else conditional_fp32_ops)
    cond: dict = {}
    for c in conditional:
        if not (isinstance(c, (tuple, list)) and len(c) == 3 and isinstance(c[0], str)
                and isinstance(c[1], str) and isinstance(c[2], list)):
            raise TypeError(f"amp.convert_symbol: conditional_fp32_ops should be a list of "
                            f"(str, str, list of str); got {c!r}")
        cond.setdefault(c[0], {}).setdefault(c[1], []).extend(str(x) for x in c[2])
    for a, b, an, bn in ((target_dtype_ops, fp32_ops, "target_dtype_ops", "fp32_ops"),
                         (target_dtype_ops, list(cond), "target_dtype_ops",
                          "conditional_fp32_ops"),
                         (list(cond), fp32_ops, "fp32_ops", "conditional_fp32_ops")):
        common = set(a) & set(b)
        if common:
            raise MXNetError(f"amp.convert_symbol: ops cannot be in two or more lists; "
                             f"{sorted(common)} are in {an} and {bn}")
    legal = set(list_lp16_ops(dt.np_name)) | set(list_fp32_ops(dt.np_name)) | \
        set(list_lp16_fp32_ops(dt.np_name)) | \
        {c[0] for c in list_conditional_fp32_ops(dt.np_name)}
    illegal = (set(target_dtype_ops) | set(fp32_ops) | set(cond)) - legal
    if illegal:
        raise MXNetError(f"amp.convert_symbol: can only choose ops from amp.list_lp16_ops, "
                         f"list_fp32_ops, list_lp16_fp32_ops and list_conditional_fp32_ops "
                         f"({dt.np_name}); {sorted(illegal)} are in none of them")
    excluded = list(excluded_sym_names or [])
    attr_dict = sym.attr_dict()
    if data_names is None:
        data_names = [n for n in sym.list_inputs()
                      if "__dtype__" not in attr_dict.get(n, {})]
    return _reduce_precision(sym, dt, _canon(target_dtype_ops), _canon(fp32_ops),
                             _canon(list_widest_type_cast(dt.np_name)),
                             {_canonical(k): v for k, v in cond.items()},
                             frozenset(excluded), list(data_names),
                             bool(cast_optional_params))


def _reduce_precision(sym, dt, target_ops, fp32_ops, widest_ops, cond, excluded, data_names,
                      cast_optional_params):
    from ...passes.amp import ReducePrecision
    from ...symbol.convert import to_graph
    from ...symbol.symbol import Symbol, _Node
    nodes = sym._nodes()
    var_nodes = [n for n in nodes if n.is_var]
    op_nodes = [n for n in nodes if not n.is_var]
    sg = to_graph(sym, dtypes={n: "float32" for n in data_names if n in sym.list_inputs()},
                  where="amp.convert_symbol")
    g = sg.graph
    if len(g.ops) != len(op_nodes) or len(g.inputs) != len(var_nodes):
        raise MXNetError("amp.convert_symbol: the symbol's nodes do not map one to one onto "
                         "the IR")
    node_of = dict(zip(g.ops, op_nodes))
    p = ReducePrecision(target_dtype=dt, target_ops=target_ops, fp32_ops=fp32_ops,
                        widest_ops=widest_ops, conditional_fp32_ops=cond, excluded=excluded,
                        data_names=frozenset(data_names),
                        cast_optional_params=cast_optional_params,
                        op_attrs={op: node_of[op].attrs for op in g.ops})
    ng, origin, offline = p.rewrite(g)
    env: dict = {}
    offline = set(offline)
    for old_v, new_v, node in zip(g.inputs, ng.inputs, var_nodes):
        # with cast_optional_params MXNet writes every parameter's (inferred) dtype
        if cast_optional_params and node.name not in data_names:
            d = dt if node.name in offline else new_v.type.dtype
            flag = -1 if d is None else d.flag
            node = _Node(None, node.name, {**node.attrs, "__dtype__": str(flag)})
        env[new_v] = (node, 0)
    for op in ng.ops:
        ins = [env[v] for v in op.inputs]
        src = origin.get(op)
        if src is not None:
            orig = node_of[src]
            node = _Node(orig.op, orig.name, orig.attrs, ins)
        elif op.opname == "amp_cast":
            node = _Node("amp_cast", op.name, {"dtype": op.attrs["dtype"]}, ins)
        else:
            node = _Node("amp_multicast", op.name,
                         {"num_outputs": str(op.attrs["num_outputs"])}, ins)
        for i, v in enumerate(op.outputs):
            env[v] = (node, i)
    return Symbol([env[v] for v in ng.outputs])


def convert_model(sym, arg_params, aux_params, target_dtype="float16", target_dtype_ops=None,
                  fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                  cast_optional_params=False):
    """:func:`convert_symbol` for a model: the parameters' names tell data from parameters,
    and parameters the converted symbol types (``cast_optional_params``) are cast. Returns
    ``(symbol, arg_params, aux_params)`` (the dicts are updated in place, as MXNet's)."""
    from ...symbol.symbol import Symbol
    if excluded_sym_names is None:
        excluded_sym_names = []
    if not isinstance(excluded_sym_names, list):
        raise TypeError("excluded_sym_names must be a list of strings representing the names "
                         "of the symbols that should not be casted, while received type "
                         f"{type(excluded_sym_names)}")
    _dtype(target_dtype)
    if not isinstance(sym, Symbol):
        raise TypeError("amp.convert_model: the first argument should be a Symbol")
    if not isinstance(arg_params, dict) or not isinstance(aux_params, dict):
        raise TypeError("amp.convert_model: arg_params and aux_params should be dicts of name "
                        "to NDArray")
    params = set(arg_params) | set(aux_params)
    data_names = [n for n in sym.list_inputs() if n not in params]
    sym = convert_symbol(sym, target_dtype, target_dtype_ops, fp32_ops, conditional_fp32_ops,
                         excluded_sym_names, data_names, cast_optional_params)
    attr_dict = sym.attr_dict()
    for names, d in ((sym.list_arguments(), arg_params),
                     (sym.list_auxiliary_states(), aux_params)):
        for n in names:
            flag = attr_dict.get(n, {}).get("__dtype__")
            if n in d and flag not in (None, "-1"):
                d[n] = d[n].astype(DType.from_flag(int(flag)).np_name)
    return sym, arg_params, aux_params


def convert_bucketing_module(bucketing_mod, target_dtype="float16", target_dtype_ops=None,
                             fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                             cast_optional_params=False):
    """A BucketingModule whose every bucket's symbol is converted (:func:`convert_model`),
    sharing the (cast) parameters; the module must have its parameters initialized."""
    from ...module import BucketingModule
    if not isinstance(bucketing_mod, BucketingModule):
        raise TypeError("amp.convert_bucketing_module: module should be an instance of "
                        "BucketingModule")
    if not bucketing_mod._buckets:
        raise MXNetError("amp.convert_bucketing_module: the BucketingModule has no buckets")
    if not bucketing_mod.params_initialized:
        raise MXNetError("amp.convert_bucketing_module: bucketing_mod params should be "
                         "initialized for mixed precision conversion")
    arg_params, aux_params = bucketing_mod.get_params()
    sym_dict = {}
    for key, val in bucketing_mod._buckets.items():
        sym_dict[key], arg_params, aux_params = convert_model(
            val._symbol, arg_params, aux_params, target_dtype=target_dtype,
            target_dtype_ops=target_dtype_ops, fp32_ops=fp32_ops,
            conditional_fp32_ops=conditional_fp32_ops, excluded_sym_names=excluded_sym_names,
            cast_optional_params=cast_optional_params)
    return BucketingModule.load_dict(
        sym_dict, sym_gen=bucketing_mod._sym_gen, arg_params=arg_params,
        aux_params=aux_params, default_bucket_key=bucketing_mod._default_bucket_key,
        logger=bucketing_mod.logger, context=bucketing_mod._context,
        work_load_list=bucketing_mod._work_load_list,
        fixed_param_names=bucketing_mod._fixed_param_names,
        state_names=bucketing_mod._state_names, group2ctxs=bucketing_mod._group2ctxs,
        compression_params=bucketing_mod._compression_params)


def convert_hybrid_block(block, target_dtype="float16", target_dtype_ops=None, fp32_ops=None,
                         conditional_fp32_ops=None, excluded_sym_names=None, ctx=None,
                         cast_optional_params=False):
    """Gluon only: raises UnsupportedError."""
    raise UnsupportedError(_GLUON.format(what="amp.convert_hybrid_block"))


# -- init: wrapped operator functions ---------------------------------------------------------------
_amp_initialized = False
_loss_scaler = None


def _resolve(module, name):
    """(namespace, function name) of operator ``name`` in ``mx.sym`` / ``mx.nd`` (MXNet's
    _get_fun_to_wrap), or None when mxc does not expose it there."""
    for prefix, sub in (("_contrib_", "contrib"), ("_linalg_", "linalg"),
                        ("_sparse_", "sparse"), ("_image_", "image")):
        if name.startswith(prefix):
            ns = getattr(module, sub, None)
            return (ns, name[len(prefix):]) if ns is not None else None
    if name.startswith("_random_") and name.endswith("_like"):
        return module.random, name[len("_random_"):]
    if name.startswith("_"):
        return module._internal, name
    return module, name


def _cast_sym(s, dt: DType):
    from ... import symbol
    return symbol.amp_cast(s, dtype=dt.np_name)


def _cast_nd(x, dt: DType):
    from ...ndarray import NDArray, amp_cast
    if isinstance(x, NDArray) and _dtype_of(x) is not dt and \
            _dtype_of(x) in (DType.f32, DType.f16, DType.bf16):
        return amp_cast(x, dtype=dt.np_name)
    return x


def _symbol_wrapper(f, dt: DType, fp32_param=None, cond_arg=None):
    @functools.wraps(f)
    def new_fun(*args, **kwargs):
        from ...symbol.symbol import Symbol, _Node
        if cond_arg is not None and kwargs.get(cond_arg[0]) not in cond_arg[1]:
            return f(*args, **kwargs)
        sym = f(*args, **kwargs)
        node = sym._outputs[0][0]
        aux = node.aux_slots()
        ins = []
        for i, (src, k) in enumerate(node.inputs):
            keep = i in aux or (fp32_param and i < len(fp32_param) and fp32_param[i])
            ins.append((src, k) if keep else _cast_sym(Symbol([(src, k)]), dt)._outputs[0])
        new = _Node(node.op, node.name, node.attrs, ins)
        return Symbol([(new, i) for n, i in sym._outputs])
    return new_fun


def _ndarray_wrapper(f, dt: DType, fp32_param=None, cond_arg=None):
    @functools.wraps(f)
    def new_fun(*args, **kwargs):
        if cond_arg is not None and kwargs.get(cond_arg[0]) not in cond_arg[1]:
            return f(*args, **kwargs)
        args = [x if (fp32_param and i < len(fp32_param) and fp32_param[i]) else
                _cast_nd(x, dt) for i, x in enumerate(args)]
        kwargs = {k: _cast_nd(v, dt) for k, v in kwargs.items()}
        return f(*args, **kwargs)
    return new_fun


def _widest_wrapper(f, module_is_symbol: bool, dt: DType):
    @functools.wraps(f)
    def new_fun(*args, **kwargs):
        from ... import symbol
        from ...ndarray import NDArray, amp_cast
        from ...symbol.symbol import Symbol
        args = list(args)
        slots = [(args, i) for i, a in enumerate(args) if isinstance(a, (Symbol, NDArray))]
        slots += [(kwargs, k) for k, a in kwargs.items() if isinstance(a, (Symbol, NDArray))]
        if not slots:
            return f(*args, **kwargs)
        if any(isinstance(c[k], Symbol) for c, k in slots):
            casted = symbol.amp_multicast(*[c[k] for c, k in slots], num_outputs=len(slots))
            for j, (c, k) in enumerate(slots):
                c[k] = casted[j] if len(slots) > 1 else casted
        else:
            widest = dt
            if any(_dtype_of(c[k]) is DType.f32 for c, k in slots):
                widest = DType.f32
            for c, k in slots:
                if _dtype_of(c[k]) is dt and widest is not dt:
                    c[k] = amp_cast(c[k], dtype=widest.np_name)
        return f(*args, **kwargs)
    return new_fun


def _wrap(module, is_symbol, dt, target_ops, cond_ops, fp32_ops):
    wrapper = _symbol_wrapper if is_symbol else _ndarray_wrapper
    fp32_params = list_lp16_use_fp32_params(dt.np_name) or {}

    def put(name, make):
        found = _resolve(module, name)
        if found is None or not hasattr(found[0], found[1]):
            return
        ns, fname = found
        f = getattr(ns, fname)
        setattr(ns, fname, make(f))
        if ns is module and hasattr(module, "op") and hasattr(module.op, fname):
            setattr(module.op, fname, make(f))

    for name in target_ops:
        spec = fp32_params.get(name)
        put(name, lambda f, s=spec: wrapper(f, dt, fp32_param=s and [bool(x) for x in s]))
    for name in fp32_ops:
        put(name, lambda f: wrapper(f, DType.f32))
    for name, arg, values in cond_ops:
        put(name, lambda f, c=(arg, values): wrapper(f, DType.f32, cond_arg=c))
    for name in list_widest_type_cast(dt.np_name):
        put(name, lambda f: _widest_wrapper(f, is_symbol, dt))


def _wrap_loss_outputs(module, is_symbol, ls, dt):
    for name in list_loss_output_functions(dt.np_name):
        f = getattr(module, name, None)
        if f is None:
            continue
        if is_symbol:
            def w(*args, _f=f, **kwargs):
                _log.warning("%s does not support dynamic loss scaling in symbolic and "
                                "hybridized execution.", _f.__name__)
                return _f(*args, **kwargs)
        else:
            def w(*args, _f=f, **kwargs):
                kwargs["grad_scale"] = kwargs.get("grad_scale", 1.0) * ls.loss_scale
                return _f(*args, **kwargs)
        setattr(module, name, functools.wraps(f)(w))


def init(target_dtype="float16", target_precision_ops=None, conditional_fp32_ops=None,
         fp32_ops=None):
    """Initialize AMP: ``mx.sym`` and ``mx.nd`` operators created from now on cast their
    inputs by the lists (low precision for ``target_precision_ops``, float32 for ``fp32_ops``
    and the conditional ones, the widest input type for the widest-type ops). Call it before
    building the model; a second call does nothing (as in MXNet)."""
    global _amp_initialized, _loss_scaler
    if _amp_initialized:
        return
    dt = _dtype(target_dtype)
    _amp_initialized = True
    _log.info("Using AMP")
    from ... import ndarray, symbol
    target_ops = target_precision_ops if target_precision_ops is not None \
        else list_lp16_ops(dt.np_name)
    fp32 = fp32_ops if fp32_ops is not None else list_fp32_ops(dt.np_name)
    cond = conditional_fp32_ops if conditional_fp32_ops is not None \
        else list_conditional_fp32_ops(dt.np_name)
    _wrap(symbol, True, dt, target_ops, cond, fp32)
    _wrap(ndarray, False, dt, target_ops, cond, fp32)
    _loss_scaler = LossScaler()
    _wrap_loss_outputs(ndarray, False, _loss_scaler, dt)
    _wrap_loss_outputs(symbol, True, _loss_scaler, dt)


def init_trainer(optimizer_or_trainer):
    """Gluon only: raises UnsupportedError (MXNet itself refuses a plain Optimizer)."""
    raise UnsupportedError(_GLUON.format(what="amp.init_trainer"))


@contextlib.contextmanager
def scale_loss(loss, optimizer_or_trainer):
    """Gluon only: raises UnsupportedError."""
    raise UnsupportedError(_GLUON.format(what="amp.scale_loss"))
    yield  # pragma: no cover


def unscale(optimizer_or_trainer):
    """Gluon only: raises UnsupportedError (MXNet refuses a plain Optimizer too)."""
    raise UnsupportedError(_GLUON.format(what="amp.unscale"))
