"""Operator functions of ``mx.sym`` (``FullyConnected``, ``exp``, ``broadcast_add`` ...), made
from the registry: MXNet's argument order, attribute names and defaults, automatic names.

Every registered operator and alias gets a function; names starting with ``_`` live in
``mx.sym._internal``, ``_contrib_*`` in ``mx.sym.contrib``, ``_linalg_*`` in ``mx.sym.linalg``.
"""
from __future__ import annotations

import inspect
import sys
import types

from ..base import MXNetError
from ..ir.attrs import REQUIRED, fmt_mx_value
from ..ir.registry import all_ops, get_op
from ..ir.types import DType
from .naming import AttrScope, NameManager, attr_key
from .symbol import Symbol, _Node

__all__ = ["invoke", "make_function", "populate", "fluent"]


class _NullType:
    def __repr__(self):
        return "_Null"


_Null = _NullType()


def _attr_str(od, key, v) -> str:
    """How MXNet turns a Python attribute value into its stored string."""
    a = next((x for x in od.attrs if x.name == key), None)
    if a is not None and a.kind == "dtype" and v is not None and not isinstance(v, str):
        return DType.parse(v).np_name
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return str(type(v)(v)) if not isinstance(v, tuple) else fmt_mx_value(tuple(v))
    return str(v)


def invoke(called: str, inputs, params: dict, name: str | None = None,
           attr: dict | None = None, hint: str | None = None) -> Symbol:
    """Create an operator symbol the way MXNet's generated functions do.

    ``called`` is the name the user called (it gives the automatic name hint: ``_Plus`` ->
    ``_plus0``); ``inputs`` a list (positional) or dict (by argument name) of Symbols; missing
    inputs become variables named ``<name>_<argument>``.
    """
    od = get_op(called)
    name = NameManager.current().get(name, (hint or called).lower())
    where = f"{od.name} '{name}'"
    declared = {a.name for a in od.attrs}
    # MXNet's order: keywords that are not operator parameters (lr_mult=2, ctx_group='dev1',
    # __anything__=...), overridden by the AttrScope's attributes and then by ``attr=``; the
    # operator's own parameters come after them. A key given twice after mapping (lr_mult and
    # __lr_mult__, or num_hidden in attr= and as a keyword) keeps its first value, as MXNet
    # does. Hidden keys are stored as __key__ (on the auto-created variables too); other
    # non-parameter keys are kept by operators without parameters and refused by the others.
    extras = {k: v for k, v in params.items() if k not in declared}
    extras.update(AttrScope.current().get(attr))
    attrs: dict[str, str] = {}
    for k, v in extras.items():
        if v is _Null:
            continue
        key = attr_key(k, v, where)
        attrs.setdefault(key, _attr_str(od, key, v))
    for k, v in params.items():
        if v is _Null or k not in declared:
            continue
        attrs.setdefault(k, _attr_str(od, k, v))
    positional = list(inputs) if isinstance(inputs, (list, tuple)) else []
    named = dict(inputs) if isinstance(inputs, dict) else {}
    if od.variadic and od.variadic not in attrs:
        attrs[od.variadic] = str(len(positional))
    node = _Node(od.name, name, attrs)
    parsed = node.params()              # validates attributes now, as MXNet does at creation
    arg_names = od.list_inputs(parsed)
    if len(positional) > len(arg_names):
        raise MXNetError(f"{od.name} '{name}': {len(positional)} inputs given; the operator "
                         f"takes {len(arg_names)} ({', '.join(arg_names) or 'none'})")
    unknown = [k for k in named if k not in arg_names]
    if unknown:
        raise MXNetError(f"{od.name} '{name}': unknown input(s) {unknown}; inputs are "
                         f"{arg_names}")
    var_attrs = od.extra.get("input_var_attrs", {})
    entries = []
    for i, an in enumerate(arg_names):
        s = positional[i] if i < len(positional) else named.get(an)
        if s is None:
            va = {k: v for k, v in attrs.items()}
            va.update(var_attrs.get(an, {}))
            entries.append((_Node(None, f"{name}_{an}", va), 0))
            continue
        if not isinstance(s, Symbol):
            raise TypeError(f"{od.name} '{name}': input {an} must be a Symbol; got "
                            f"{type(s).__name__}")
        if len(s._outputs) != 1:
            raise MXNetError(f"{od.name} '{name}': input {an} is a group of "
                             f"{len(s._outputs)} outputs; pass one output (s[i])")
        entries.append(s._outputs[0])
    node.inputs = entries
    return Symbol([(node, i) for i in range(node.num_visible())])


def make_function(called: str, hint: str | None = None):
    """The ``mx.sym`` function of operator ``called``; ``hint`` names its nodes (MXNet's
    submodule functions, ``mx.sym.random.uniform_like``, use their own name: ``uniform_like0``)."""
    od = get_op(called)

    def fn(*args, **kwargs):
        name = kwargs.pop("name", None)
        attr = kwargs.pop("attr", None)
        kwargs.pop("out", None)
        named = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
        params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
        if od.variadic:
            if any(not isinstance(a, Symbol) for a in args):
                raise TypeError(f"{called}: positional arguments must be Symbols")
            return invoke(called, list(args) + list(named.values()), params, name, attr, hint)
        # MXNet's generated signatures: inputs first (Symbol or None), then attributes
        order = od.list_inputs(_probe_attrs(od, params))
        args = list(args)
        inputs = dict(named)
        free_inputs = [n for n in order if n not in named]
        while args and free_inputs and (args[0] is None or isinstance(args[0], Symbol)):
            a = args.pop(0)
            n = free_inputs.pop(0)
            if a is not None:
                inputs[n] = a
        # an operator whose inputs depend on its attributes (BilinearResize2D's `like` only in
        # mode='like') has them all in MXNet's signature: a None there is an input left out
        while args and args[0] is None and callable(od.arguments):
            args.pop(0)
        if args:
            free = [a.name for a in od.attrs if a.name not in params and a.name != "is_train"]
            if len(args) > len(free):
                raise TypeError(f"{called}: too many positional arguments")
            params.update(zip(free, args))
        unknown = [k for k in inputs if k not in order]
        if unknown:
            raise TypeError(f"{called}: unknown input(s) {unknown}; inputs are {order}")
        return invoke(called, inputs, params, name, attr, hint)

    fn.__name__ = hint or called
    fn.__qualname__ = hint or called
    fn.__doc__ = _doc(od, called)
    try:
        fn.__signature__ = _signature(od)
    except (ValueError, TypeError):
        pass
    return fn


def _probe_attrs(od, params) -> dict:
    """Attributes good enough to list an op's inputs before all attributes are known."""
    probe = {a.name: (None if a.required else a.default) for a in od.attrs}
    for k, v in params.items():
        a = next((x for x in od.attrs if x.name == k), None)
        if a is None or v is _Null:
            continue
        try:
            probe[k] = a.coerce(_attr_str(od, k, v), od.name)
        except MXNetError:
            pass
    return probe


def _signature(od) -> inspect.Signature:
    P = inspect.Parameter
    params = []
    if od.variadic:
        params.append(P("data", P.VAR_POSITIONAL))
    else:
        try:
            defaults = {a.name: a.default for a in od.attrs}
            probe = {k: (False if v is REQUIRED else v) for k, v in defaults.items()}
            names = od.list_inputs(probe)
        except Exception:
            names = []
        params += [P(n, P.POSITIONAL_OR_KEYWORD, default=None) for n in names]
    for a in od.attrs:
        if a.name == "is_train":
            continue
        kind = P.KEYWORD_ONLY if od.variadic else P.POSITIONAL_OR_KEYWORD
        params.append(P(a.name, kind, default=_Null if a.required else a.default))
    kind = P.KEYWORD_ONLY if od.variadic else P.POSITIONAL_OR_KEYWORD
    params += [P("name", kind, default=None), P("attr", kind, default=None),
               P("out", kind, default=None), P("kwargs", P.VAR_KEYWORD)]
    return inspect.Signature(params)


def _doc(od, called) -> str:
    lines = [od.doc or f"{od.name} operator.", "", "Parameters", "----------"]
    try:
        probe = {a.name: (False if a.required else a.default) for a in od.attrs}
        for n in od.list_inputs(probe):
            lines.append(f"{n} : Symbol")
    except Exception:
        pass
    for a in od.attrs:
        req = "required" if a.required else f"optional, default={a.default!r}"
        lines.append(f"{a.name} : {a.describe()}, {req}")
        if a.doc:
            lines.append(f"    {a.doc}")
    lines += ["name : string, optional", "    Name of the resulting symbol.", "",
              "Returns", "-------", "Symbol"]
    if called != od.name:
        lines.insert(1, f"(alias of {od.name})")
    return "\n".join(lines)


_SUBMODULES = {"_contrib_": "contrib", "_linalg_": "linalg", "_random_": "random",
               "_image_": "image", "_sparse_": "sparse"}


def populate(namespace: dict, package: str, make=None):
    """Put every operator's function (``make(name)``; default: this module's symbol
    functions) into ``namespace`` and its submodules (``_internal``, ``op``, ``contrib``,
    ``linalg`` ...): the same layout for ``mx.sym`` and ``mx.nd``."""
    make = make or make_function
    mods = {}
    for sub in ["_internal", "op"] + list(_SUBMODULES.values()):
        full = f"{package}.{sub}"
        m = sys.modules.get(full) or types.ModuleType(full)
        sys.modules[full] = m
        namespace.setdefault(sub, m)
        mods[sub] = namespace[sub]
    for od in all_ops().values():
        if od.name == "fused":
            continue
        for n in (od.name, *od.aliases):
            f = make(n)
            setattr(mods["op"], n, f)
            for pre, sub in _SUBMODULES.items():
                if n.startswith(pre):
                    # MXNet: of the _random_ operators only the *_like samplers join
                    # mx.sym.random / mx.nd.random (its uniform, normal ... are Python
                    # functions choosing _random_* or _sample_*); the others are _internal
                    if pre != "_random_" or n.endswith("_like"):
                        short = n[len(pre):]
                        setattr(mods[sub], short, _submodule_fn(make, n, short))
                    break
            if n.startswith("_"):
                setattr(mods["_internal"], n, f)
            else:
                namespace.setdefault(n, f)


def _submodule_fn(make, called: str, short: str):
    """The function of operator ``called`` as ``mx.sym.<submodule>.<short>`` (named after
    ``short``, as MXNet's are)."""
    return make(called, hint=short)


def fluent(item: str):
    """``sym.reshape(...)``, ``sym.sum(...)``: the operator function of that name."""
    if item.startswith("_"):
        return None
    if item == "astype":
        f = make_function("Cast")
        return lambda s, dtype, **k: f(s, dtype=dtype, **k)
    try:
        get_op(item)
    except MXNetError:
        return None
    return make_function(item)
