"""The operator registry: one :class:`OpDef` per operator, with all of its rules together.

An OpDef says everything mxc knows about an operator, so a missing rule shows in one place:

- its MXNet interface: attribute schema, argument names (``ListArguments``), auxiliary states,
  output names and how many are visible;
- ``infer_shape`` / ``infer_dtype``: bidirectional, partial rules (MXNet's ``infer_shape_partial``
  fills weight shapes from data shapes);
- ``interp``: the reference implementation on numpy arrays, the oracle compiled code is tested on;
- ``vjp``: the gradient as IR, built with a :class:`~mxc.ir.core.Builder` (or
  ``differentiable=False``);
- ``lower`` (a primitive: how codegen computes it) or ``decompose`` (a composite: which
  primitives it becomes).

Lowering descriptors (:class:`Elementwise`, :class:`View`, :class:`Reduce`, :class:`Extern`)
are plain data here; ``mxc.codegen`` interprets them, so the IR does not depend on codegen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..base import AttrError, DTypeError, GraphError, ShapeError, op_prefix
from .attrs import Attr, parse_attrs
from .types import DType

__all__ = [
    "OpDef", "RuleCtx", "register_op", "get_op", "has_op", "all_ops", "canonical_name",
    "Elementwise", "View", "Reduce", "Extern",
    "ELEMENTWISE", "COMMUTATIVE", "VIEW", "REDUCE", "LOSS", "RANDOM", "NO_GRAD_INPUTS",
    "same_shape", "same_dtype", "forward_shape", "forward_dtype", "broadcast_shapes",
]

# traits
ELEMENTWISE = "elementwise"
COMMUTATIVE = "commutative"
VIEW = "view"
REDUCE = "reduce"
LOSS = "loss"            # an output layer whose backward ignores the head gradient
RANDOM = "random"        # draws random numbers (Dropout in training, samplers)
NO_GRAD_INPUTS = "no_grad_inputs"


# -- lowering descriptors -----------------------------------------------------------------------
@dataclass(frozen=True)
class Elementwise:
    """A (broadcasting) elementwise primitive.

    ``fn(k, attrs, *xs)`` builds the scalar result with the scalar handler ``k`` (``k.add``,
    ``k.exp``, ``k.const`` ...; the LLVM and Triton renderers and the kernel IR share it).
    Inputs whose shape differs from the output broadcast numpy-style (right-aligned, size 1 or
    missing leading dims).
    """

    fn: Callable


@dataclass(frozen=True)
class View:
    """An index remapping with no arithmetic: reshape, transpose, broadcast, slice.

    ``index(attrs, in_shape, out_shape, out_idx) -> in_idx`` maps an output index (a list of
    integer index expressions) to the input's; ``None`` means the default for the kind:
    ``kind="reshape"`` (row-major relinearisation), ``"broadcast"`` (size-1 dims pinned to 0).

    A *masked* view (zero padding, im2col windows over a padded input, col2im) also has
    ``guard(attrs, in_shape, out_shape, out_idx) -> conditions``: output positions where a
    condition fails read ``fill`` instead of the input. Conditions are ``("range", ix, lo, hi)``
    (``lo <= ix < hi``) and ``("divisible", ix, m)`` (``ix % m == 0``, ``ix >= 0``); ``fill``
    is a number or ``fill(attrs)``. The input index need only be valid where the conditions
    hold (loads are masked elsewhere).

    A *shifting* view (a slice) also has ``shift(attrs, in_shape, out_shape) -> [(axis,
    begin, lo, hi)]``: along ``axis`` the input index is the one of ``begin = 0`` plus
    ``begin``, and every begin in ``[lo, hi]`` is valid for these shapes; ``shift_attrs``
    names the attributes that only choose those begins. Kernels whose views differ only in
    their begins (step ``t`` of an unrolled network reading row block ``t``) are then lowered
    once, with the begins as parameters, and instantiated for each (:mod:`mxc.codegen.lower`).
    """

    kind: str = "custom"
    index: Callable | None = None
    guard: Callable | None = None
    fill: Any = 0.0
    shift: Callable | None = None
    shift_attrs: tuple = ()


@dataclass(frozen=True)
class Reduce:
    """A reduction: ``kind`` in sum/prod/max/min; ``axes(attrs, in_shape)`` gives the reduced
    axes (sorted, non-negative) and ``keepdims(attrs)`` whether they stay as size 1.
    ``pre(k, x)`` optionally maps each element first (nansum turns NaN into 0);
    ``post(k, attrs, acc, n)`` optionally finishes the value (mean divides by ``n``)."""

    kind: str
    axes: Callable
    keepdims: Callable
    post: Callable | None = None
    pre: Callable | None = None


@dataclass(frozen=True)
class Extern:
    """A library call: ``fn(attrs, ins, outs)`` on torch tensors (cpu or cuda) writes ``outs``.

    Used for what libraries already do best (GEMM, convolution) and for what has no kernel IR form
    yet (sort). ``name`` names the call in plans and dumps."""

    fn: Callable
    name: str = ""
    # optional batch parallelism: split(attrs, in_shapes, out_shapes) -> (in_axes, out_axes,
    # chunk_attrs) where in_axes/out_axes give, per tensor, the axis-0 split (0), None (the
    # whole tensor to every chunk) or, for outputs, "sum" (each chunk computes a partial sum
    # that is added up), and chunk_attrs(attrs, n) the attrs of an n-row chunk (or None). The
    # runtime then runs chunks of a large call on several threads.
    split: Callable | None = None


# -- rule context ---------------------------------------------------------------------------------
class RuleCtx:
    """What a shape/dtype rule sees: the op's typed attrs and names, and a way to fail clearly."""

    __slots__ = ("opdef", "attrs", "name", "body", "out_shapes", "out_dtypes")

    def __init__(self, opdef: "OpDef", attrs: dict, name: str | None = None, body=None,
                 out_shapes=None, out_dtypes=None):
        self.opdef = opdef
        self.attrs = attrs
        self.name = name
        self.body = body
        # the outputs' shapes as inference knows them so far (partial; None when not given):
        # MXNet's shape functions see their outputs too (FullyConnected takes its data's batch
        # size from its output; zeros((0, H)) takes the unknown dims from its consumers)
        self.out_shapes = out_shapes
        self.out_dtypes = out_dtypes     # likewise for dtypes (MXNet's ElemwiseType)

    @property
    def where(self) -> str:
        return op_prefix(self.opdef.name, self.name)

    def shape_error(self, msg: str) -> ShapeError:
        return ShapeError(f"{self.where}: {msg}")

    def dtype_error(self, msg: str) -> DTypeError:
        return DTypeError(f"{self.where}: {msg}")

    def attr_error(self, msg: str) -> AttrError:
        return AttrError(f"{self.where}: {msg}")

    def input_names(self) -> list[str]:
        return self.opdef.list_inputs(self.attrs)


# -- OpDef ------------------------------------------------------------------------------------------
def _as_fn(x):
    return x if callable(x) else (lambda attrs, _x=tuple(x): list(_x))


@dataclass
class OpDef:
    name: str
    attrs: tuple = ()
    arguments: Any = ("data",)        # tuple of names, or fn(attrs) -> names (ListArguments)
    aux: Any = ()                     # auxiliary states (BatchNorm's moving stats)
    outputs: Any = ("output",)        # output names
    num_visible_outputs: Any = None   # int, fn(attrs) -> int, or None for all
    variadic: str | None = None       # attr giving the number of arguments (``num_args``)
    infer_shape: Callable | None = None
    infer_dtype: Callable | None = None
    interp: Callable | None = None    # (xs: list[np.ndarray], attrs) -> tuple of outputs
    vjp: Callable | None = None       # (b, op, g) -> per-input gradient Values (None = zero)
    differentiable: bool = True
    lower: Any = None                 # Elementwise | View | Reduce | Extern
    decompose: Callable | None = None  # (b, op) -> output Values
    traits: frozenset = frozenset()
    aliases: tuple = ()
    mode_dependent: bool = False      # behaves differently in training (gets ``is_train``)
    # training-mode updates of auxiliary states (BatchNorm's moving mean/var):
    # (b, op) -> [(aux input position, new value Value)]; the compiler writes them back
    aux_update: Callable | None = None
    doc: str = ""
    validate: Callable | None = None  # (rc) -> None; raise rc.attr_error for bad attrs
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.traits = frozenset(self.traits)
        if self.mode_dependent and not any(a.name == "is_train" for a in self.attrs):
            self.attrs = tuple(self.attrs) + (Attr("is_train", "bool", False,
                                                   doc="set by the compiler from the mode"),)
        if self.infer_dtype is None:
            self.infer_dtype = same_dtype

    # interface --------------------------------------------------------------------------------
    def list_arguments(self, attrs: dict) -> list[str]:
        if self.variadic:
            n = attrs.get(self.variadic) or 0
            return [f"arg{i}" for i in range(n)]
        return _as_fn(self.arguments)(attrs)

    def list_aux(self, attrs: dict) -> list[str]:
        return _as_fn(self.aux)(attrs)

    def list_inputs(self, attrs: dict) -> list[str]:
        return self.list_arguments(attrs) + self.list_aux(attrs)

    def list_outputs(self, attrs: dict) -> list[str]:
        return _as_fn(self.outputs)(attrs)

    def num_outputs(self, attrs: dict) -> int:
        return len(self.list_outputs(attrs))

    def num_visible(self, attrs: dict) -> int:
        n = self.num_visible_outputs
        if n is None:
            return self.num_outputs(attrs)
        return n(attrs) if callable(n) else n

    def parse_attrs(self, raw: dict, name: str | None = None) -> dict:
        where = op_prefix(self.name, name)
        attrs = parse_attrs(self.attrs, raw, where)
        if self.validate is not None:
            self.validate(RuleCtx(self, attrs, name))
        return attrs


_REGISTRY: dict[str, OpDef] = {}
_ALIASES: dict[str, str] = {}


def register_op(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY or opdef.name in _ALIASES:
        raise GraphError(f"operator {opdef.name} registered twice")
    _REGISTRY[opdef.name] = opdef
    for a in opdef.aliases:
        if a in _REGISTRY or a in _ALIASES:
            raise GraphError(f"operator alias {a} registered twice")
        _ALIASES[a] = opdef.name
    return opdef


def canonical_name(name: str) -> str:
    _ensure_loaded()
    return _ALIASES.get(name, name)


def get_op(name: str, where: str | None = None) -> OpDef:
    _ensure_loaded()
    od = _REGISTRY.get(name) or _REGISTRY.get(_ALIASES.get(name, ""))
    if od is None:
        from ..base import UnsupportedError
        w = f"{where}: " if where else ""
        raise UnsupportedError(f"{w}operator {name!r} is not supported by mxc yet")
    return od


def has_op(name: str) -> bool:
    _ensure_loaded()
    return name in _REGISTRY or name in _ALIASES


def all_ops() -> dict[str, OpDef]:
    _ensure_loaded()
    return dict(_REGISTRY)


_loaded = False


def _ensure_loaded():
    global _loaded
    if not _loaded:
        _loaded = True
        from . import opdefs  # noqa: F401  (registers every operator)


# -- common rules -----------------------------------------------------------------------------------
def unify_shapes(rc: RuleCtx, shapes: list, names: list[str] | None = None):
    """The common shape of ``shapes`` (partial allowed), or a ShapeError naming both."""
    out = None
    src = None
    for i, s in enumerate(shapes):
        if s is None:
            continue
        if out is None:
            out, src = tuple(s), i
            continue
        s = tuple(s)
        if s == out:
            continue            # the common case; the message below is built only when needed
        if len(s) != len(out):
            raise rc.shape_error(_mismatch(names, src, i, out, s))
        if any(a is not None and b is not None and a != b for a, b in zip(out, s)):
            raise rc.shape_error(_mismatch(names, src, i, out, s))
        out = tuple(b if a is None else a for a, b in zip(out, s))
    return out


def _mismatch(names, i, j, a, b):
    from .types import shape_str
    na = names[i] if names and i < len(names) else f"input {i}"
    nb = names[j] if names and j < len(names) else f"input {j}"
    return (f"shapes do not match: {na} has shape ({shape_str(a)}) and {nb} has shape "
            f"({shape_str(b)}); expected equal shapes")


def same_shape(rc: RuleCtx, shapes: list):
    """All inputs and outputs share one shape (MXNet's ElemwiseShape)."""
    try:
        s = unify_shapes(rc, shapes)
    except ShapeError:          # again, with the inputs' names in the message
        unify_shapes(rc, shapes, rc.input_names() if not rc.opdef.variadic else None)
        raise
    n_out = rc.opdef.num_outputs(rc.attrs)
    return [s] * len(shapes), [s] * n_out


def forward_shape(fn: Callable, partial_dims: bool | str = False) -> Callable:
    """Wrap ``fn(rc, shapes) -> out shapes`` for complete input shapes. With unknown dims in
    known ranks (MXNet's partial inference), ``partial_dims`` says what happens: False, the
    outputs' dims that do not depend on the unknown ones are found by running ``fn`` on
    stand-ins (see :func:`_outputs_with_unknown_dims`); True, ``fn`` itself takes None dims;
    ``"unknown"``, the outputs stay unknown (where MXNet's rule gives up too: Flatten, tile)."""
    def rule(rc, shapes):
        n_out = rc.opdef.num_outputs(rc.attrs)
        if any(s is None for s in shapes):
            return list(shapes), [None] * n_out
        if partial_dims is not True and any(d is None for s in shapes for d in s):
            if partial_dims == "unknown":
                return list(shapes), [None] * n_out
            return list(shapes), _outputs_with_unknown_dims(rc, fn, shapes, n_out)
        outs = fn(rc, [tuple(s) for s in shapes])
        if isinstance(outs, tuple):
            outs = [outs]
        return list(shapes), list(outs)
    rule.__wrapped__ = fn
    return rule


# stand-ins for unknown dims: large and divisible by 1..16, so rules that split an axis accept
_UNKNOWN_A, _UNKNOWN_B = 720720 * 7, 720720 * 11


def _outputs_with_unknown_dims(rc, fn, shapes, n_out):
    """Output shapes of a rule written for complete shapes when some input dims are unknown
    (MXNet's partial inference: ``dot`` of (0, 3, 4) and (4, 5) is (0, 3, 5)). The rule runs
    twice with different stand-ins for the unknown dims; an output dim that comes out the same
    both times does not depend on them and is known, the others stay unknown. A rule that
    refuses the stand-ins leaves the outputs unknown."""
    runs = []
    for fill in (_UNKNOWN_A, _UNKNOWN_B):
        try:
            outs = fn(rc, [tuple(fill if d is None else d for d in s) for s in shapes])
        except Exception:  # noqa: BLE001 - the stand-ins broke the rule: nothing is known
            return [None] * n_out
        runs.append([outs] if isinstance(outs, tuple) else list(outs))
    result = []
    for a, b in zip(*runs):
        if a is None or b is None or len(a) != len(b):
            result.append(None)
        else:
            result.append(tuple(x if x == y else None for x, y in zip(a, b)))
    return result


def broadcast_shapes(rc: RuleCtx, a: tuple, b: tuple) -> tuple:
    """numpy broadcasting of two complete shapes (MXNet's broadcast_* ops)."""
    from .types import shape_str
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise rc.shape_error(f"operands could not be broadcast together with shapes "
                                 f"({shape_str(a)}) and ({shape_str(b)})")
    return tuple(out)


def same_dtype(rc: RuleCtx, dtypes: list):
    """All inputs and outputs share one dtype (MXNet's ElemwiseType): a dtype known on any of
    them (outputs too, when inference knows them) decides the others."""
    known = [d for d in dtypes if d is not None]
    if not known and rc.out_dtypes:
        known = [d for d in rc.out_dtypes if d is not None][:1]
    if known:
        d0 = known[0]
        for d in known[1:]:
            if d != d0:
                names = rc.input_names()
                detail = ", ".join(f"{n}={d.np_name if d else '?'}"
                                   for n, d in zip(names, dtypes))
                raise rc.dtype_error(f"inputs must share one dtype; got {detail}")
    else:
        d0 = None
    n_out = rc.opdef.num_outputs(rc.attrs)
    return [d0] * len(dtypes), [d0] * n_out


def forward_dtype(fn: Callable) -> Callable:
    """Wrap ``fn(rc, dtypes) -> out dtypes`` that needs every input dtype."""
    def rule(rc, dtypes):
        n_out = rc.opdef.num_outputs(rc.attrs)
        if any(d is None for d in dtypes):
            return list(dtypes), [None] * n_out
        outs = fn(rc, list(dtypes))
        if isinstance(outs, DType):
            outs = [outs] * n_out
        return list(dtypes), list(outs)
    return rule
