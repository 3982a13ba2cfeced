"""Optimizer update operators: MXNet 1.9.1's ``sgd_update`` ... ``reset_arrays``.

The mathematics of every update is written once, here, as a function ``rule(m, T, H, opts)``
over IR values: ``T`` maps tensor names (``weight``, ``grad``, state names) to flat arrays of one
length, ``H`` maps hyperparameter names (``lr``, ``wd``, ``rescale_grad``, ``momentum`` ...) to
shape-(1,) values that broadcast, ``opts`` are the flags that change the math (clipping on or
off ...), and ``m`` is an :class:`UpdateOps` (clip, sign, ``1 - x``). Two callers build graphs
from the same rule, so the operators and ``mx.optimizer`` cannot drift apart:

- each OpDef's ``decompose`` flattens its tensors, makes every hyperparameter a shape-(1,)
  constant from its attributes (rounded to float32 first, as MXNet's parameter structs hold
  them) and returns the new weight and the new states;
- ``runtime.optimizer`` builds one kernel per optimizer configuration with the hyperparameters as
  shape-(1,) *graph inputs* (a new learning rate is a new input value, never a recompilation).

MXNet semantics kept:

- hyperparameters are attributes; the states an update changes (``mom``, ``mean``/``var``,
  ``n``/``g``/``delta``, ``z``/``n``, ``d``/``v``/``z``, ``weight32``) are *mutated inputs*
  (MXNet's ``FMutateInputs``), which MXNet's symbols list as auxiliary states. Here they are the
  OpDef's ``aux`` inputs, the same mechanism as BatchNorm's moving statistics: the op has one
  visible output (the new weight) and one hidden output per mutated state, and its
  ``aux_update`` rule hands those back. ``mx.nd`` writes them into the state arrays
  (``mx.nd.sgd_mom_update(w, g, mom, lr=0.1, momentum=0.9, out=w)`` updates ``mom``);
  a bound executor writes them into its auxiliary arrays.
  The ``multi_*`` operators interleave their states with the weights (``weight_0, grad_0,
  mom_0, weight_1, ...``) and ``mp_lamb_update_phase1`` has ``weight32`` after its states,
  which an OpDef's ``aux`` list (always the last inputs) cannot express, so there the states
  are listed as arguments; their ``aux_update`` still names each state's position, which
  is what ``mx.nd`` writes back.
- clipping is on when ``clip_gradient >= 0`` (the default -1 turns it off; 0 clips to 0).
- ``nag_mom_update``: the momentum's weight-decay term reads the old weight. (MXNet's kernel
  reads ``weight_data`` after writing ``out``, so with ``out=weight`` it sees the new weight;
  the NAG optimizer, which always updates in place, uses that form of the same rule.)
- ``mp_*``: float16 weight and gradient, float32 states and ``weight32`` master copy; the math
  runs in float32 on ``weight32`` and the float16 weight is written from it.
- ``lamb_update_phase1`` returns the update direction ``g`` (mutating ``mean``/``var``);
  ``lamb_update_phase2`` applies it with the trust ratio ``r1 / r2`` (norms, shape (1,)).
- ``multi_sum_sq``: one float32 sum of squares per array (shape (num_arrays,));
  ``multi_lars``: the per-layer learning rates of LARS from those sums; ``all_finite`` /
  ``multi_all_finite``: a float32 (1,) flag, 1 when every element is finite;
  ``reset_arrays``: sets its inputs to zero and has no outputs.
- ``_contrib_group_adagrad_update``: one history value per row ((rows, 1)); MXNet's takes
  only a row_sparse gradient (lazy: absent rows untouched); a dense gradient here updates every
  row, and a zero row changes nothing, so the results are the same.

None of these operators is differentiable (MXNet registers no gradient for them).
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..core import Builder
from ..registry import OpDef, register_op, unify_shapes
from ..types import DType, TensorType, numel

__all__ = [
    "RULES",
    "UpdateOps",
    "adam",
    "ftml",
    "ftrl",
    "group_adagrad",
    "lamb_phase1",
    "lamb_phase2",
    "nag_mom",
    "rmsprop",
    "rmspropalex",
    "sgd",
    "sgd_mom",
    "signsgd",
    "signum",
]


# =================================================================================================
# the shared mathematics
# =================================================================================================
class UpdateOps:
    """Builder helpers for update graphs: flat tensors of one length and shape-(1,)
    hyperparameters mix freely (the latter broadcast)."""

    def __init__(self, b: Builder, n: int):
        self.b = b
        self.n = n

    def full(self, x):
        """``x`` (a (1,) value) as an array of the flat length."""
        return self.b.broadcast_to(x, (self.n,)) if tuple(x.shape) != (self.n,) else x

    def clip(self, x, c):
        """MXNet's ``clip::Map(x, c)``: ``x > c ? c : (x < -c ? -c : x)``."""
        b = self.b
        nc = b.neg(c)
        inner = b.where(b.op("broadcast_lesser", [x, nc]), self.full(nc), x)
        return b.where(b.op("broadcast_greater", [x, c]), self.full(c), inner)

    def sign(self, x):
        """C's ``(x > 0) - (x < 0)``: 1, -1 or 0 (also for NaN)."""
        b = self.b
        return b.sub(b.op("_greater_scalar", [x], {"scalar": 0.0}),
                     b.op("_lesser_scalar", [x], {"scalar": 0.0}))

    def one_minus(self, x):
        """``1.f - x`` computed in the kernel's precision."""
        return self.b.sub(1.0, x)


def sgd(m, T, H, clip):
    """``sgd_update``: ``weight = (1 - lr*wd) * weight - lr * clip(rescale_grad * grad)``
    (without clipping: ``- (lr*rescale_grad) * grad``)."""
    b = m.b
    w, g, lr = T["weight"], T["grad"], H["lr"]
    keep = b.mul(m.one_minus(b.mul(lr, H["wd"])), w)
    if clip:
        return {"weight": b.sub(keep, b.mul(lr, m.clip(b.mul(H["rescale_grad"], g),
                                                       H["clip_gradient"])))}
    return {"weight": b.sub(keep, b.mul(b.mul(lr, H["rescale_grad"]), g))}


def sgd_mom(m, T, H, has_mom, clip):
    """``sgd_mom_update`` / ``multi_sgd(_mom)_update``::

        mom = momentum * mom - (lr*wd) * weight - lr * clip(rescale_grad * grad)
        weight = weight + mom

    Without momentum (``multi_sgd_update``) the state is 0 and not kept."""
    b = m.b
    w, g, lr = T["weight"], T["grad"], H["lr"]
    if clip:
        step = b.mul(lr, m.clip(b.mul(H["rescale_grad"], g), H["clip_gradient"]))
    else:
        step = b.mul(b.mul(lr, H["rescale_grad"]), g)
    decay = b.mul(b.mul(lr, H["wd"]), w)
    if has_mom:
        mom = b.sub(b.sub(b.mul(H["momentum"], T["mom"]), decay), step)
    else:
        mom = b.sub(b.neg(decay), step)
    out = {"weight": b.add(w, mom)}
    if has_mom:
        out["mom"] = mom
    return out


def nag_mom(m, T, H, clip, inplace):
    """``nag_mom_update``::

        mom = momentum * mom
        weight' = weight - mom + (momentum + 1) * (mom - lr * (clip(rescale_grad*grad) + wd*weight))
        mom = mom - lr * (clip(rescale_grad*grad) + wd * w)

    with ``w`` the old weight, or the new one when ``inplace`` (MXNet's kernel with
    ``out=weight``, and always in ``mp_nag_mom_update``)."""
    b = m.b
    w, g, lr, wd = T["weight"], T["grad"], H["lr"], H["wd"]
    gr = b.mul(H["rescale_grad"], g)
    if clip:
        gr = m.clip(gr, H["clip_gradient"])
    mo = H["momentum"]
    mom = b.mul(mo, T["mom"])
    delta = b.mul(lr, b.add(gr, b.mul(wd, w)))
    new_w = b.add(b.sub(w, mom), b.mul(b.add(mo, 1.0), b.sub(mom, delta)))
    w_decay = new_w if inplace else w
    return {"weight": new_w, "mom": b.sub(mom, b.mul(lr, b.add(gr, b.mul(wd, w_decay))))}


def signsgd(m, T, H):
    """``signsgd_update``: ``weight = (1 - lr*wd) * weight - lr * sign(grad)`` (rescale_grad
    and clip_gradient play no part, as in MXNet)."""
    b = m.b
    w, lr = T["weight"], H["lr"]
    keep = b.mul(m.one_minus(b.mul(lr, H["wd"])), w)
    return {"weight": b.sub(keep, b.mul(lr, m.sign(T["grad"])))}


def signum(m, T, H, clip):
    """``signum_update``::

        mom = momentum * mom - (1 - momentum) * wd * weight - (1 - momentum) * clip(rescale*grad)
        weight = (1 - lr * wd_lh) * weight + lr * sign(mom)"""
    b = m.b
    w, g, lr, wd = T["weight"], T["grad"], H["lr"], H["wd"]
    mo = H["momentum"]
    om = m.one_minus(mo)
    if clip:
        gpart = b.mul(om, m.clip(b.mul(H["rescale_grad"], g), H["clip_gradient"]))
    else:
        gpart = b.mul(b.mul(om, H["rescale_grad"]), g)
    mom = b.sub(b.sub(b.mul(mo, T["mom"]), b.mul(b.mul(om, wd), w)), gpart)
    keep = b.mul(m.one_minus(b.mul(lr, H["wd_lh"])), w)
    return {"weight": b.add(keep, b.mul(lr, m.sign(mom))), "mom": mom}


def adam(m, T, H, clip):
    """``adam_update`` (bias correction is the caller's, folded into ``lr``)::

        g = clip(rescale_grad * grad + wd * weight)
        mean = beta1 * mean + (1 - beta1) * g;  var = beta2 * var + (1 - beta2) * g * g
        weight = weight - lr * mean / (sqrt(var) + epsilon)"""
    b = m.b
    w = T["weight"]
    g = b.add(b.mul(T["grad"], H["rescale_grad"]), b.mul(w, H["wd"]))
    if clip:
        g = m.clip(g, H["clip_gradient"])
    b1, b2 = H["beta1"], H["beta2"]
    mean = b.add(b.mul(b1, T["mean"]), b.mul(m.one_minus(b1), g))
    var = b.add(b.mul(b2, T["var"]), b.mul(b.mul(m.one_minus(b2), g), g))
    step = b.div(b.mul(H["lr"], mean), b.add(b.sqrt(var), H["epsilon"]))
    return {"weight": b.sub(w, step), "mean": mean, "var": var}


def rmsprop(m, T, H, clip, clipw):
    """``rmsprop_update``::

        g = clip(rescale_grad * grad + wd * weight)
        n = (1 - gamma1) * g * g + gamma1 * n
        weight = clip_weights(weight - lr * g / sqrt(n + epsilon))"""
    b = m.b
    w = T["weight"]
    g = b.add(b.mul(H["rescale_grad"], T["grad"]), b.mul(H["wd"], w))
    if clip:
        g = m.clip(g, H["clip_gradient"])
    g1 = H["gamma1"]
    n = b.add(b.mul(m.one_minus(g1), b.mul(g, g)), b.mul(g1, T["n"]))
    new_w = b.sub(w, b.mul(H["lr"], b.div(g, b.sqrt(b.add(n, H["epsilon"])))))
    if clipw:
        new_w = m.clip(new_w, H["clip_weights"])
    return {"weight": new_w, "n": n}


def rmspropalex(m, T, H, clip, clipw):
    """``rmspropalex_update`` (centered RMSProp)::

        g' = clip(rescale_grad * grad + wd * weight)
        n = (1 - gamma1) * g' * g' + gamma1 * n;  g = (1 - gamma1) * g' + gamma1 * g
        delta = gamma2 * delta - lr * g' / sqrt(n - g * g + epsilon)
        weight = clip_weights(weight + delta)"""
    b = m.b
    w = T["weight"]
    g = b.add(b.mul(H["rescale_grad"], T["grad"]), b.mul(H["wd"], w))
    if clip:
        g = m.clip(g, H["clip_gradient"])
    g1 = H["gamma1"]
    om = m.one_minus(g1)
    n = b.add(b.mul(b.mul(om, g), g), b.mul(g1, T["n"]))
    mg = b.add(b.mul(om, g), b.mul(g1, T["g"]))
    denom = b.sqrt(b.add(b.sub(n, b.mul(mg, mg)), H["epsilon"]))
    delta = b.sub(b.mul(H["gamma2"], T["delta"]), b.div(b.mul(H["lr"], g), denom))
    new_w = b.add(w, delta)
    if clipw:
        new_w = m.clip(new_w, H["clip_weights"])
    return {"weight": new_w, "n": n, "g": mg, "delta": delta}


def ftrl(m, T, H, clip):
    """``ftrl_update``::

        g = clip(rescale_grad * grad)
        z += g - (sqrt(n + g*g) - sqrt(n)) * weight / lr;  n += g * g
        weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1)"""
    b = m.b
    w, lr = T["weight"], H["lr"]
    g = b.mul(T["grad"], H["rescale_grad"])
    if clip:
        g = m.clip(g, H["clip_gradient"])
    n0 = T["n"]
    g2 = b.square(g)
    z = b.add(T["z"], b.sub(g, b.div(b.mul(b.sub(b.sqrt(b.add(n0, g2)), b.sqrt(n0)), w), lr)))
    n = b.add(n0, g2)
    l1 = H["lamda1"]
    num = b.sub(b.mul(m.sign(z), l1), z)
    den = b.add(b.div(b.add(H["beta"], b.sqrt(n)), lr), H["wd"])
    mask = b.op("broadcast_greater", [b.op("abs", [z]), l1])
    return {"weight": b.mul(b.div(num, den), mask), "z": z, "n": n}


def ftml(m, T, H, clip):
    """``ftml_update``::

        g = clip(rescale_grad * grad + wd * weight)
        v = beta2 * v + (1 - beta2) * g * g
        d_t = (1 - beta1**t) / lr * (sqrt(v / (1 - beta2**t)) + epsilon)
        z = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d) * weight
        d = d_t;  weight = -z / d_t"""
    b = m.b
    w = T["weight"]
    g = b.add(b.mul(H["rescale_grad"], T["grad"]), b.mul(H["wd"], w))
    if clip:
        g = m.clip(g, H["clip_gradient"])
    b1, b2, t = H["beta1"], H["beta2"], H["t"]
    v = b.add(b.mul(b2, T["v"]), b.mul(m.one_minus(b2), b.square(g)))
    d_t = b.mul(b.div(m.one_minus(b.pow(b1, t)), H["lr"]),
                b.add(b.sqrt(b.div(v, m.one_minus(b.pow(b2, t)))), H["epsilon"]))
    z = b.sub(b.add(b.mul(b1, T["z"]), b.mul(m.one_minus(b1), g)),
              b.mul(b.sub(d_t, b.mul(b1, T["d"])), w))
    return {"weight": b.neg(b.div(z, d_t)), "d": d_t, "v": v, "z": z}


def lamb_phase1(m, T, H, clip, bias_correction):
    """``lamb_update_phase1``: the direction ``g`` (the op's output, not a new weight)::

        gr = clip(rescale_grad * grad)
        mean = beta1 * mean + (1 - beta1) * gr;  var = beta2 * var + (1 - beta2) * gr * gr
        g = mean / (sqrt(var) + epsilon) + wd * weight            (no bias correction)
        g = mean_hat / (sqrt(var_hat) + epsilon) + wd * weight    (mean_hat = mean / (1 -
            beta1**t), var_hat = var / (1 - beta2**t); ``one_minus_beta1_t`` etc. given)"""
    b = m.b
    w = T["weight"]
    gr = b.mul(T["grad"], H["rescale_grad"])
    if clip:
        gr = m.clip(gr, H["clip_gradient"])
    b1, b2 = H["beta1"], H["beta2"]
    mean = b.add(b.mul(b1, T["mean"]), b.mul(m.one_minus(b1), gr))
    var = b.add(b.mul(b2, T["var"]), b.mul(b.mul(m.one_minus(b2), gr), gr))
    if bias_correction:
        mh = b.div(mean, H["one_minus_beta1_t"])
        vh = b.div(var, H["one_minus_beta2_t"])
    else:
        mh, vh = mean, var
    g = b.add(b.div(mh, b.add(b.sqrt(vh), H["epsilon"])), b.mul(H["wd"], w))
    return {"weight": g, "mean": mean, "var": var}


def lamb_phase2(m, T, H, lower, upper):
    """``lamb_update_phase2``::

        r1 = min(max(r1, lower_bound), upper_bound)      (each bound when >= 0)
        lr' = lr if r1 == 0 or r2 == 0 else lr * r1 / r2
        weight = weight - lr' * g"""
    b = m.b
    r1, r2, lr = T["r1"], T["r2"], H["lr"]
    if lower:
        r1 = b.maximum(r1, H["lower_bound"])
    if upper:
        r1 = b.minimum(r1, H["upper_bound"])
    zero = b.op("broadcast_logical_or", [b.op("_equal_scalar", [r1], {"scalar": 0.0}),
                                         b.op("_equal_scalar", [r2], {"scalar": 0.0})])
    lr_t = b.where(zero, b.mul(lr, 1.0), b.div(b.mul(lr, r1), r2))
    return {"weight": b.sub(T["weight"], b.mul(m.full(lr_t), T["g"]))}


# =================================================================================================
# OpDefs built from the rules
# =================================================================================================
_F32 = DType.f32


def _f32(x):
    return float(np.float32(x))


def _A(name, kind, default=None, doc="", **kw):
    from ..attrs import REQUIRED
    return Attr(name, kind, REQUIRED if default is None else default, doc=doc, **kw)


_LR = Attr("lr", "float", doc="Learning rate")
_WD = Attr("wd", "float", 0.0, doc="Weight decay")
_RESCALE = Attr("rescale_grad", "float", 1.0, doc="Rescale gradient to rescale_grad * grad.")
_CLIP = Attr("clip_gradient", "float", -1.0,
             doc="Clip gradient to [-clip_gradient, clip_gradient]; off when < 0.")
_LAZY = Attr("lazy_update", "bool", True, doc="accepted (mxc has no sparse gradients)")
_MOM = Attr("momentum", "float", 0.0, doc="The decay rate of momentum estimates.")


class _Spec:
    """One single-weight update operator: its inputs, mutated states and rule."""

    def __init__(self, name, attrs, tensors, aux, rule, hp, opts, mp=False, out_dtype=None,
                 aliases=(), doc="", scalars=(), out_f32=False):
        self.name = name
        self.attrs = tuple(attrs)
        self.tensors = tuple(tensors)        # every input in MXNet's order; aux ones last
        self.aux = tuple(aux)                # the mutated ones
        self.rule = rule                     # fn(m, T, H, *opts) -> {name: Value}
        self.hp = hp                         # fn(attrs) -> {name: float}
        self.opts = opts                     # fn(attrs) -> tuple
        self.mp = mp
        self.aliases = tuple(aliases)
        self.doc = doc
        self.scalars = tuple(scalars)        # shape-(1,) tensor inputs (LAMB's norms r1, r2)
        self.out_f32 = out_f32               # mp op whose output is float32 (LAMB phase 1)


def _hp_const(b, H, dtype):
    return {k: b.full((1,), v, dtype.np_name) for k, v in H.items()}


def _spec_decompose(spec):
    def decompose(b, op):
        a = op.attrs
        shape = tuple(op.inputs[0].shape)
        n = numel(shape)
        T = {nm: v if nm in spec.scalars else b.reshape(v, (n,))
             for nm, v in zip(spec.tensors, op.inputs)}
        if spec.mp:
            cdt = _F32
            if "grad" in T:
                T["grad"] = b.cast(T["grad"], _F32)
            w16_dtype = op.inputs[0].dtype
            T["weight"] = T["weight32"]
        else:
            cdt = op.inputs[0].dtype
        m = UpdateOps(b, n)
        outs = spec.rule(m, T, _hp_const(b, spec.hp(a), cdt), *spec.opts(a))
        new_w = outs["weight"]
        if spec.mp:
            outs["weight32"] = new_w
            if not spec.out_f32:
                new_w = b.cast(new_w, w16_dtype)
        res = [b.reshape(new_w, shape)]
        for s in spec.aux:
            res.append(b.reshape(outs[s], tuple(op.inputs[spec.tensors.index(s)].shape)))
        return res
    return decompose


def interp_by_decomposition(opname):
    """An ``interp`` that evaluates the operator's decomposition with the primitives'
    interpreters: the mathematics stays written once (golden data from MXNet checks it)."""
    def interp(xs, a):
        from ..interp import interp as run
        from ..registry import get_op
        od = get_op(opname)
        b = Builder(opname)
        ins = [b.input(f"x{i}", TensorType(tuple(x.shape), DType.parse(np.asarray(x).dtype)))
               for i, x in enumerate(xs)]
        b.op(od.name, ins, a, parsed=True)
        op = b.ops.pop()
        outs = od.decompose(b, op)
        return tuple(run(b.build(list(outs)), list(xs)))
    return interp


def _state_dtype(spec, nm, wdt):
    if spec.mp and nm != "grad" and nm != "weight":
        return _F32
    return wdt


def _spec_shape(spec):
    def rule(rc, shapes):
        names = rc.input_names()
        big = [i for i, nm in enumerate(names) if nm not in spec.scalars]
        s = unify_shapes(rc, [shapes[i] for i in big] +
                         [rc.out_shapes[0] if rc.out_shapes else None],
                         [names[i] for i in big] + ["output"])
        ins = []
        for nm, sh in zip(names, shapes):
            if nm in spec.scalars:
                if sh is not None and tuple(sh) != (1,):
                    raise rc.shape_error(f"{nm} has shape {tuple(sh)}; expected (1,)")
                ins.append((1,))
            else:
                ins.append(s)
        return ins, [s] * (1 + len(spec.aux))
    return rule


def _spec_dtype(spec):
    def rule(rc, dtypes):
        names = rc.input_names()
        wdt = dtypes[0]
        if wdt is None:
            wdt = next((d for nm, d in zip(names, dtypes) if d is not None and
                        _state_dtype(spec, nm, None) is None), None)
        if wdt is None and rc.out_dtypes and rc.out_dtypes[0] is not None:
            wdt = rc.out_dtypes[0]
        want = [_state_dtype(spec, nm, wdt) for nm in names]
        for nm, d, w in zip(names, dtypes, want):
            if d is not None and w is not None and d != w:
                detail = ", ".join(f"{n}={x.np_name if x else '?'}" for n, x in zip(names, dtypes))
                raise rc.dtype_error(f"input {nm} has dtype {d.np_name}; expected {w.np_name} "
                                     f"({detail})")
        outs = [_F32 if spec.out_f32 else wdt] + [_state_dtype(spec, s, wdt) for s in spec.aux]
        return want, outs
    return rule


def _aux_update_positions(positions_outputs):
    def aux_update(b, op):
        return [(p, op.outputs[o]) for p, o in positions_outputs(op.attrs)]
    return aux_update


def _register_spec(spec):
    n_args = len(spec.tensors) - len(spec.aux)
    aux_pos = [(spec.tensors.index(s), 1 + i) for i, s in enumerate(spec.aux)]
    if spec.tensors[n_args:] != spec.aux:       # mutated inputs not last (mp_lamb phase 1):
        n_args = len(spec.tensors)              # arguments, as for the multi_* operators
    register_op(OpDef(
        name=spec.name, attrs=spec.attrs,
        arguments=spec.tensors[:n_args], aux=spec.tensors[n_args:],
        outputs=("output",) + tuple(f"{s}_new" for s in spec.aux),
        num_visible_outputs=1,
        infer_shape=_spec_shape(spec), infer_dtype=_spec_dtype(spec),
        interp=interp_by_decomposition(spec.name),
        vjp=None, differentiable=False,
        decompose=_spec_decompose(spec),
        aux_update=_aux_update_positions(lambda a, _p=tuple(aux_pos): _p),
        aliases=spec.aliases,
        extra={"mutate_inputs": True},
        doc=spec.doc + " Mutates " + (", ".join(spec.aux) if spec.aux else "nothing") +
        " in place; not differentiable.",
    ))


def _clip_on(a, key="clip_gradient"):
    return a[key] >= 0


_SGD_HP = lambda a: {"lr": _f32(a["lr"]), "wd": _f32(a["wd"]),
                     "rescale_grad": _f32(a["rescale_grad"]),
                     "clip_gradient": _f32(a["clip_gradient"])}
_MOM_HP = lambda a: {**_SGD_HP(a), "momentum": _f32(a["momentum"])}

_SPECS = [
    _Spec("sgd_update", (_LR, _WD, _RESCALE, _CLIP, _LAZY), ("weight", "grad"), (),
          sgd, _SGD_HP, lambda a: (_clip_on(a),), aliases=("_sparse_sgd_update",),
          doc="SGD: weight = (1 - lr*wd) * weight - lr * clip(rescale_grad * grad)."),
    _Spec("sgd_mom_update", (_LR, _MOM, _WD, _RESCALE, _CLIP, _LAZY),
          ("weight", "grad", "mom"), ("mom",),
          sgd_mom, _MOM_HP, lambda a: (True, _clip_on(a)), aliases=("_sparse_sgd_mom_update",),
          doc="SGD with momentum: mom = momentum*mom - lr*wd*weight - lr*clip(rescale_grad*grad)"
              "; weight += mom."),
    _Spec("mp_sgd_update", (_LR, _WD, _RESCALE, _CLIP, _LAZY), ("weight", "grad", "weight32"),
          ("weight32",), sgd, _SGD_HP, lambda a: (_clip_on(a),), mp=True,
          doc="Mixed-precision sgd_update: float32 master weight32, float16 weight."),
    _Spec("mp_sgd_mom_update", (_LR, _MOM, _WD, _RESCALE, _CLIP, _LAZY),
          ("weight", "grad", "mom", "weight32"), ("mom", "weight32"),
          sgd_mom, _MOM_HP, lambda a: (True, _clip_on(a)), mp=True,
          doc="Mixed-precision sgd_mom_update (float32 mom and weight32)."),
    _Spec("nag_mom_update", (_LR, _MOM, _WD, _RESCALE, _CLIP), ("weight", "grad", "mom"),
          ("mom",), nag_mom, _MOM_HP, lambda a: (_clip_on(a), False),
          doc="Nesterov momentum update (the momentum's decay term reads the old weight)."),
    _Spec("mp_nag_mom_update", (_LR, _MOM, _WD, _RESCALE, _CLIP),
          ("weight", "grad", "mom", "weight32"), ("mom", "weight32"), nag_mom, _MOM_HP,
          lambda a: (_clip_on(a), True), mp=True,
          doc="Mixed-precision nag_mom_update (the decay term reads the new weight32)."),
    _Spec("adam_update",
          (_LR, Attr("beta1", "float", _f32(0.9)), Attr("beta2", "float", _f32(0.999)),
           Attr("epsilon", "float", _f32(1e-8)), _WD, _RESCALE, _CLIP, _LAZY),
          ("weight", "grad", "mean", "var"), ("mean", "var"), adam,
          lambda a: {**_SGD_HP(a), "beta1": _f32(a["beta1"]), "beta2": _f32(a["beta2"]),
                     "epsilon": _f32(a["epsilon"])},
          lambda a: (_clip_on(a),), aliases=("_sparse_adam_update",),
          doc="Adam: mean/var moving moments of clip(rescale_grad*grad + wd*weight); weight -= "
              "lr * mean / (sqrt(var) + epsilon)."),
    _Spec("rmsprop_update",
          (_LR, Attr("gamma1", "float", _f32(0.95)), Attr("epsilon", "float", _f32(1e-8)),
           _WD, _RESCALE, _CLIP, Attr("clip_weights", "float", -1.0)),
          ("weight", "grad", "n"), ("n",), rmsprop,
          lambda a: {**_SGD_HP(a), "gamma1": _f32(a["gamma1"]), "epsilon": _f32(a["epsilon"]),
                     "clip_weights": _f32(a["clip_weights"])},
          lambda a: (_clip_on(a), _clip_on(a, "clip_weights")),
          doc="RMSProp (Tieleman & Hinton)."),
    _Spec("rmspropalex_update",
          (_LR, Attr("gamma1", "float", _f32(0.95)), Attr("gamma2", "float", _f32(0.9)),
           Attr("epsilon", "float", _f32(1e-8)), _WD, _RESCALE, _CLIP,
           Attr("clip_weights", "float", -1.0)),
          ("weight", "grad", "n", "g", "delta"), ("n", "g", "delta"), rmspropalex,
          lambda a: {**_SGD_HP(a), "gamma1": _f32(a["gamma1"]), "gamma2": _f32(a["gamma2"]),
                     "epsilon": _f32(a["epsilon"]), "clip_weights": _f32(a["clip_weights"])},
          lambda a: (_clip_on(a), _clip_on(a, "clip_weights")),
          doc="Centered RMSProp (Graves 2013)."),
    _Spec("ftrl_update",
          (_LR, Attr("lamda1", "float", _f32(0.01)), Attr("beta", "float", 1.0), _WD, _RESCALE,
           _CLIP),
          ("weight", "grad", "z", "n"), ("z", "n"), ftrl,
          lambda a: {**_SGD_HP(a), "lamda1": _f32(a["lamda1"]), "beta": _f32(a["beta"])},
          lambda a: (_clip_on(a),), aliases=("_sparse_ftrl_update",),
          doc="FTRL-proximal."),
    _Spec("ftml_update",
          (_LR, Attr("beta1", "float", _f32(0.6)), Attr("beta2", "float", _f32(0.999)),
           Attr("epsilon", "float", 1e-8), Attr("t", "int"), _WD, _RESCALE,
           Attr("clip_grad", "float", -1.0, doc="Clip gradient; off when < 0.")),
          ("weight", "grad", "d", "v", "z"), ("d", "v", "z"), ftml,
          lambda a: {"lr": _f32(a["lr"]), "wd": _f32(a["wd"]),
                     "rescale_grad": _f32(a["rescale_grad"]),
                     "clip_gradient": _f32(a["clip_grad"]), "beta1": _f32(a["beta1"]),
                     "beta2": _f32(a["beta2"]), "epsilon": float(a["epsilon"]),
                     "t": float(a["t"])},
          lambda a: (_clip_on(a, "clip_grad"),),
          doc="FTML, Follow the Moving Leader."),
    _Spec("signsgd_update", (_LR, _WD, _RESCALE, _CLIP), ("weight", "grad"), (), signsgd,
          lambda a: {"lr": _f32(a["lr"]), "wd": _f32(a["wd"])}, lambda a: (),
          doc="SignSGD: weight = (1 - lr*wd) * weight - lr * sign(grad)."),
    _Spec("signum_update", (_LR, _MOM, _WD, _RESCALE, _CLIP, Attr("wd_lh", "float", 0.0)),
          ("weight", "grad", "mom"), ("mom",), signum,
          lambda a: {**_MOM_HP(a), "wd_lh": _f32(a["wd_lh"])}, lambda a: (_clip_on(a),),
          doc="Signum: the sign of a momentum."),
]


def _lamb1_hp(a):
    b1, b2 = _f32(a["beta1"]), _f32(a["beta2"])
    t = a["t"]
    return {"beta1": b1, "beta2": b2, "epsilon": _f32(a["epsilon"]), "wd": _f32(a["wd"]),
            "rescale_grad": _f32(a["rescale_grad"]), "clip_gradient": _f32(a["clip_gradient"]),
            # std::pow(float, int) in double, rounded to the kernel's type; 1 - it in double
            "one_minus_beta1_t": 1.0 - _f32(b1 ** t), "one_minus_beta2_t": 1.0 - _f32(b2 ** t)}


_LAMB1_ATTRS = (Attr("beta1", "float", _f32(0.9)), Attr("beta2", "float", _f32(0.999)),
                Attr("epsilon", "float", _f32(1e-6)), Attr("t", "int"),
                Attr("bias_correction", "bool", True), Attr("wd", "float"), _RESCALE, _CLIP)
_LAMB2_ATTRS = (_LR, Attr("lower_bound", "float", -1.0), Attr("upper_bound", "float", -1.0))


def _lamb2_hp(a):
    return {"lr": _f32(a["lr"]), "lower_bound": _f32(a["lower_bound"]),
            "upper_bound": _f32(a["upper_bound"])}


_SPECS += [
    _Spec("lamb_update_phase1", _LAMB1_ATTRS, ("weight", "grad", "mean", "var"),
          ("mean", "var"), lamb_phase1, _lamb1_hp,
          lambda a: (_clip_on(a), a["bias_correction"]),
          doc="LAMB phase 1: moments and the update direction g (the output)."),
    _Spec("mp_lamb_update_phase1", _LAMB1_ATTRS,
          ("weight", "grad", "mean", "var", "weight32"), ("mean", "var"), lamb_phase1,
          _lamb1_hp, lambda a: (_clip_on(a), a["bias_correction"]), mp=True, out_f32=True,
          doc="Mixed-precision LAMB phase 1 (float32 g, mean, var; reads weight32)."),
    _Spec("lamb_update_phase2", _LAMB2_ATTRS, ("weight", "g", "r1", "r2"), (), lamb_phase2,
          _lamb2_hp, lambda a: (a["lower_bound"] >= 0, a["upper_bound"] >= 0),
          scalars=("r1", "r2"),
          doc="LAMB phase 2: weight -= lr * r1/r2 * g (r1 clamped to the bounds)."),
    _Spec("mp_lamb_update_phase2", _LAMB2_ATTRS, ("weight", "g", "r1", "r2", "weight32"), (),
          lamb_phase2, _lamb2_hp, lambda a: (a["lower_bound"] >= 0, a["upper_bound"] >= 0),
          mp=True, scalars=("r1", "r2"), doc="Mixed-precision LAMB phase 2 (from weight32; weight32 not changed)."),
]

for _s in _SPECS:
    _register_spec(_s)
RULES = {s.name: s for s in _SPECS}


# =================================================================================================
# _contrib_group_adagrad_update: one history value per row (not the flat one-length model above)
# =================================================================================================
def group_adagrad(m, T, H, clip):
    """``_contrib_group_adagrad_update`` on (rows, row_length) ``weight``/``grad`` and a
    (rows, 1) ``history``::

        g = clip(rescale_grad * grad, clip_gradient)
        history += mean(square(g), axis=1)          # sum of squares / row_length
        weight -= lr * g / sqrt(history + epsilon)

    (no weight decay, as in MXNet). ``m`` works on (rows, row_length); ``m.n`` is the row
    length."""
    b = m.b
    g = b.mul(T["grad"], H["rescale_grad"])
    if clip:
        g = m.clip(g, H["clip_gradient"])
    hist = b.add(T["history"], b.div(b.sum(b.square(g), axis=1, keepdims=True), float(m.n)))
    step = b.div(b.mul(H["lr"], g), b.sqrt(b.add(hist, H["epsilon"])))
    return {"weight": b.sub(T["weight"], step), "history": hist}


class _RowOps(UpdateOps):
    """UpdateOps over (rows, row_length) arrays: ``n`` is the row length."""

    def __init__(self, b, shape):
        super().__init__(b, shape[1])
        self.shape = tuple(shape)

    def full(self, x):
        return self.b.broadcast_to(x, self.shape)


def _gag_rows(rc, s):
    if len(s) < 1 or numel(s) == 0:
        raise rc.shape_error(f"weight has shape {tuple(s)}; expected a non-empty array of at "
                             "least one axis (rows)")
    return s[0], numel(s) // s[0]


def _gag_shape(rc, shapes):
    names = rc.input_names()
    s = unify_shapes(rc, [shapes[0], shapes[1],
                          rc.out_shapes[0] if rc.out_shapes else None],
                     [names[0], names[1], "output"])
    h = shapes[2]
    if s is None or None in s:
        return [s, s, h], [s, h]
    rows, _ = _gag_rows(rc, s)
    if h is None:
        h = (rows, 1)
    elif len(h) < 1 or h[0] != rows or numel(h) != rows:
        raise rc.shape_error(f"history has shape {tuple(h)} for weight of shape {tuple(s)}; "
                             f"expected one value per row: ({rows}, 1)")
    return [s, s, tuple(h)], [s, tuple(h)]


def _gag_decompose(b, op):
    a = op.attrs
    w, g, h = op.inputs
    rows, rl = _gag_rows(None, tuple(w.shape))
    T = {"weight": b.reshape(w, (rows, rl)), "grad": b.reshape(g, (rows, rl)),
         "history": b.reshape(h, (rows, 1))}
    H = {k: b.reshape(v, (1, 1)) for k, v in _hp_const(b, {
        "lr": _f32(a["lr"]), "rescale_grad": _f32(a["rescale_grad"]),
        "clip_gradient": _f32(a["clip_gradient"]), "epsilon": _f32(a["epsilon"])},
        w.dtype).items()}
    outs = group_adagrad(_RowOps(b, (rows, rl)), T, H, _clip_on(a))
    return [b.reshape(outs["weight"], tuple(w.shape)),
            b.reshape(outs["history"], tuple(h.shape))]


register_op(OpDef(
    name="_contrib_group_adagrad_update",
    attrs=(_LR, _RESCALE, _CLIP,
           Attr("epsilon", "float", _f32(1e-5), doc="Epsilon for numerical stability")),
    arguments=("weight", "grad"), aux=("history",),
    outputs=("output", "history_new"), num_visible_outputs=1,
    infer_shape=_gag_shape, interp=interp_by_decomposition("_contrib_group_adagrad_update"),
    vjp=None, differentiable=False, decompose=_gag_decompose,
    aux_update=_aux_update_positions(lambda a: ((2, 1),)),
    extra={"mutate_inputs": True},
    doc="Group AdaGrad: one adaptive rate per row, history += mean(square(clip(rescale_grad "
        "* grad)), axis=1); weight -= lr * g / sqrt(history + epsilon). MXNet takes a "
        "row_sparse gradient and updates only its rows (lazily); a dense gradient here "
        "updates every row, which for rows whose gradient is zero leaves weight and history "
        "as they were, so the results agree. Mutates history in place; not differentiable.",
))


# =================================================================================================
# multi_*: several weights in one call (MXNet's aggregated SGD), inputs interleaved per weight
# =================================================================================================
def _multi_fields(has_mom, mp):
    return ("weight", "grad") + (("mom",) if has_mom else ()) + (("weight32",) if mp else ())


def _multi_inputs(has_mom, mp, preloaded):
    fields = _multi_fields(has_mom, mp)

    def names(a):
        out = [f"{f}_{i}" for i in range(a["num_weights"]) for f in fields]
        return out + (["lrs", "wds"] if preloaded else [])
    return names


def _multi_mutated(has_mom, mp):
    return tuple(f for f in ("mom", "weight32") if (f == "mom" and has_mom) or
                 (f == "weight32" and mp))


def _multi_outputs(has_mom, mp):
    mut = _multi_mutated(has_mom, mp)

    def names(a):
        nw = a["num_weights"]
        vis = ["output"] if nw == 1 else [f"output{i}" for i in range(nw)]
        return vis + [f"{f}_{i}_new" for i in range(nw) for f in mut]
    return names


def _multi_positions(has_mom, mp):
    fields = _multi_fields(has_mom, mp)
    mut = _multi_mutated(has_mom, mp)

    def positions(a):
        nw = a["num_weights"]
        st = len(fields)
        out = []
        for i in range(nw):
            for k, f in enumerate(mut):
                out.append((i * st + fields.index(f), nw + i * len(mut) + k))
        return out
    return positions


def _multi_shape(has_mom, mp, preloaded):
    st = len(_multi_fields(has_mom, mp))

    def rule(rc, shapes):
        nw = rc.attrs["num_weights"]
        names = rc.input_names()
        ins, outs = list(shapes), [None] * nw
        for i in range(nw):
            idx = list(range(i * st, (i + 1) * st))
            s = unify_shapes(rc, [shapes[j] for j in idx], [names[j] for j in idx])
            for j in idx:
                ins[j] = s
            outs[i] = s
        if preloaded:
            for j in (nw * st, nw * st + 1):
                if shapes[j] is not None and tuple(shapes[j]) != (nw,):
                    raise rc.shape_error(f"{names[j]} has shape {tuple(shapes[j])}; expected "
                                         f"({nw},), one entry per weight")
                ins[j] = (nw,)
        n_mut = len(_multi_mutated(has_mom, mp))
        return ins, outs + [outs[i] for i in range(nw) for _ in range(n_mut)]
    return rule


def _multi_dtype(has_mom, mp, preloaded):
    fields = _multi_fields(has_mom, mp)
    st = len(fields)

    def rule(rc, dtypes):
        nw = rc.attrs["num_weights"]
        names = rc.input_names()
        known = [dtypes[i * st + k] for i in range(nw) for k in (0, 1)
                 if dtypes[i * st + k] is not None]
        wdt = known[0] if known else None
        want = []
        for i in range(nw):
            for f in fields:
                want.append(_F32 if f == "weight32" or (f == "mom" and mp) else wdt)
        if preloaded:
            want += [_F32, _F32]
        for nm, d, w in zip(names, dtypes, want):
            if d is not None and w is not None and d != w:
                raise rc.dtype_error(f"input {nm} has dtype {d.np_name}; expected {w.np_name}")
        mut = _multi_mutated(has_mom, mp)
        outs = [wdt] * nw + [_F32 if (f == "weight32" or mp) else wdt
                             for _ in range(nw) for f in mut]
        return want, outs
    return rule


def _multi_decompose(has_mom, mp, preloaded):
    fields = _multi_fields(has_mom, mp)
    st = len(fields)
    mut = _multi_mutated(has_mom, mp)

    def decompose(b, op):
        a = op.attrs
        nw = a["num_weights"]
        vis, hidden = [], []
        for i in range(nw):
            vals = op.inputs[i * st:(i + 1) * st]
            shape = tuple(vals[0].shape)
            n = numel(shape)
            T = {f: b.reshape(v, (n,)) for f, v in zip(fields, vals)}
            cdt = _F32 if mp else vals[0].dtype
            H = {"rescale_grad": _f32(a["rescale_grad"]),
                 "clip_gradient": _f32(a["clip_gradient"])}
            if has_mom:
                H["momentum"] = _f32(a["momentum"])
            if not preloaded:
                H["lr"], H["wd"] = _f32(a["lrs"][i]), _f32(a["wds"][i])
            H = _hp_const(b, H, cdt)
            if preloaded:
                lrs, wds = op.inputs[nw * st], op.inputs[nw * st + 1]
                H["lr"] = b.cast(b.op("slice_axis", [lrs], {"axis": 0, "begin": i,
                                                            "end": i + 1}), cdt)
                H["wd"] = b.cast(b.op("slice_axis", [wds], {"axis": 0, "begin": i,
                                                            "end": i + 1}), cdt)
            if mp:
                T["grad"] = b.cast(T["grad"], _F32)
                T["weight"] = T["weight32"]
            outs = sgd_mom(UpdateOps(b, n), T, H, has_mom, a["clip_gradient"] >= 0)
            new_w = outs["weight"]
            if mp:
                outs["weight32"] = new_w
                new_w = b.cast(new_w, vals[0].dtype)
            vis.append(b.reshape(new_w, shape))
            hidden += [b.reshape(outs[f], shape) for f in mut]
        return vis + hidden
    return decompose


def _multi_validate(preloaded):
    def validate(rc):
        a = rc.attrs
        if a["num_weights"] < 1:
            raise rc.attr_error(f"num_weights={a['num_weights']}; expected >= 1")
        if not preloaded:
            for k in ("lrs", "wds"):
                if len(a[k]) != a["num_weights"]:
                    raise rc.attr_error(f"{k} has {len(a[k])} entries for num_weights="
                                        f"{a['num_weights']}; expected one per weight")
    return validate


def _register_multi(has_mom, mp, preloaded):
    name = ("preloaded_" if preloaded else "") + "multi_" + ("mp_" if mp else "") + "sgd_" + \
        ("mom_" if has_mom else "") + "update"
    attrs = () if preloaded else (Attr("lrs", "floats", doc="Learning rates."),
                                  Attr("wds", "floats", doc="Weight decay augments the "
                                                            "objective function."))
    attrs += ((_MOM,) if has_mom else ()) + (_RESCALE, _CLIP,
                                            Attr("num_weights", "int", 1,
                                                 doc="Number of updated weights."))
    mut = _multi_mutated(has_mom, mp)
    register_op(OpDef(
        name=name, attrs=attrs,
        arguments=_multi_inputs(has_mom, mp, preloaded),
        outputs=_multi_outputs(has_mom, mp),
        num_visible_outputs=lambda a: a["num_weights"],
        infer_shape=_multi_shape(has_mom, mp, preloaded),
        infer_dtype=_multi_dtype(has_mom, mp, preloaded),
        interp=interp_by_decomposition(name),
        vjp=None, differentiable=False,
        decompose=_multi_decompose(has_mom, mp, preloaded),
        aux_update=_aux_update_positions(_multi_positions(has_mom, mp)),
        validate=_multi_validate(preloaded),
        extra={"mutate_inputs": True},
        doc=("SGD" + (" with momentum" if has_mom else "") + " for num_weights weights in one "
             "call (MXNet's aggregated update, " +
             ("mom = momentum*mom - lr*wd*w - lr*clip(rescale_grad*grad); w += mom"
              if has_mom else "w += -lr*wd*w - lr*clip(rescale_grad*grad)") + ")" +
             ("; float16 weights with float32 weight32 master copies" if mp else "") +
             ("; lrs and wds are (num_weights,) float32 arrays" if preloaded else "") +
             ". Inputs interleaved per weight (" + ", ".join(f"{f}_i" for f in
                                                          _multi_fields(has_mom, mp)) + ")" +
             (f"; mutates {', '.join(mut)} in place" if mut else "") + "; not differentiable."),
    ))


for _pre in (False, True):
    for _mp in (False, True):
        for _mom in (False, True):
            _register_multi(_mom, _mp, _pre)


# =================================================================================================
# multi_sum_sq, multi_lars, all_finite, multi_all_finite, reset_arrays
# =================================================================================================
def _arrays(prefix="array_"):
    return lambda a: [f"{prefix}{i}" for i in range(a["num_arrays"])]


def _num_arrays_validate(rc):
    if rc.attrs["num_arrays"] < 1:
        raise rc.attr_error(f"num_arrays={rc.attrs['num_arrays']}; expected >= 1")


def _any_shapes(n_out_shape):
    def rule(rc, shapes):
        return list(shapes), [n_out_shape(rc.attrs)]
    return rule


def _f32_out(rc, dtypes):
    return list(dtypes), [_F32] * rc.opdef.num_outputs(rc.attrs)


def _sum_sq(b, x):
    """MXNet squares in the array's type (a float16 square is rounded to float16) and adds
    the squares up in float32."""
    return b.reshape(b.sum(b.cast(b.square(x), _F32)), (1,))


def _mss_decompose(b, op):
    parts = [_sum_sq(b, x) for x in op.inputs]
    if len(parts) == 1:
        return [parts[0]]
    return [b.op("Concat", parts, {"num_args": len(parts), "dim": 0})]


register_op(OpDef(
    name="multi_sum_sq",
    attrs=(Attr("num_arrays", "int", doc="number of input arrays."),),
    arguments=_arrays(), infer_shape=_any_shapes(lambda a: (a["num_arrays"],)),
    infer_dtype=_f32_out, interp=interp_by_decomposition("multi_sum_sq"),
    vjp=None, differentiable=False, decompose=_mss_decompose, validate=_num_arrays_validate,
    doc="The sum of squares of each input array, in float32: shape (num_arrays,). Not "
        "differentiable.",
))


def _lars_shape(rc, shapes):
    s = unify_shapes(rc, list(shapes) + [rc.out_shapes[0] if rc.out_shapes else None],
                     rc.input_names() + ["output"])
    return [s] * 4, [s]


def _lars_dtype(rc, dtypes):
    for nm, d in zip(rc.input_names(), dtypes):
        if d is not None and d != _F32:
            raise rc.dtype_error(f"input {nm} has dtype {d.np_name}; expected float32")
    return [_F32] * 4, [_F32]


def _lars_decompose(b, op):
    a = op.attrs
    lrs, wsq, gsq, wds = op.inputs
    w_norm = b.sqrt(wsq)
    valid = b.op("broadcast_logical_and", [b.op("_greater_scalar", [w_norm], {"scalar": 0.0}),
                                           b.op("_greater_scalar", [gsq], {"scalar": 0.0})])
    den = b.add(b.add(b.mul(b.sqrt(gsq), _f32(a["rescale_grad"])), b.mul(wds, w_norm)),
                _f32(a["eps"]))
    lars = b.div(b.mul(b.mul(lrs, _f32(a["eta"])), w_norm), den)
    return [b.where(valid, lars, lrs)]


register_op(OpDef(
    name="multi_lars",
    attrs=(Attr("eta", "float", doc="LARS eta"), Attr("eps", "float", doc="LARS eps"),
           _RESCALE),
    arguments=("lrs", "weights_sum_sq", "grads_sum_sq", "wds"),
    infer_shape=_lars_shape, infer_dtype=_lars_dtype,
    interp=interp_by_decomposition("multi_lars"), vjp=None, differentiable=False,
    decompose=_lars_decompose,
    doc="LARS learning rates: lrs * eta * |w| / (|g| * rescale_grad + wds * |w| + eps) where "
        "|w| > 0 and |g|^2 > 0, else lrs (|w| = sqrt(weights_sum_sq)). Not differentiable.",
))


def _finite_flag(b, x):
    """1.0 where every element (as float32, as MXNet checks it) is finite, else 0.0: (1,)."""
    x = b.cast(x, _F32)
    ok = b.op("_equal_scalar", [b.sub(x, x), ], {"scalar": 0.0})     # inf - inf, NaN: NaN
    return b.reshape(b.op("min", [ok], {}), (1,))


def _finite_validate(rc):
    if not rc.attrs["init_output"]:
        from ...base import UnsupportedError
        raise UnsupportedError(f"{rc.where}: init_output=False (AND-ing into the previous "
                               "contents of the output array) is not supported by mxc yet; "
                               "combine the flags with elemwise_mul")
    if "num_arrays" in rc.attrs:
        _num_arrays_validate(rc)


def _all_finite_decompose(b, op):
    flags = [_finite_flag(b, x) for x in op.inputs]
    out = flags[0]
    for f in flags[1:]:
        out = b.minimum(out, f)
    return [out]


_INIT = Attr("init_output", "bool", True, doc="Initialize output to 1.")
register_op(OpDef(
    name="all_finite", attrs=(_INIT,), arguments=("data",),
    infer_shape=_any_shapes(lambda a: (1,)), infer_dtype=_f32_out,
    interp=interp_by_decomposition("all_finite"), vjp=None, differentiable=False,
    decompose=_all_finite_decompose, validate=_finite_validate,
    doc="A float32 (1,) flag: 1 when every element of data (as float32) is finite, else 0 "
        "(used by AMP). Not differentiable.",
))
register_op(OpDef(
    name="multi_all_finite",
    attrs=(Attr("num_arrays", "int", 1, doc="Number of arrays."), _INIT),
    arguments=_arrays(), infer_shape=_any_shapes(lambda a: (1,)), infer_dtype=_f32_out,
    interp=interp_by_decomposition("multi_all_finite"), vjp=None, differentiable=False,
    decompose=_all_finite_decompose, validate=_finite_validate,
    doc="all_finite over num_arrays arrays: one float32 (1,) flag. Not differentiable.",
))


def _reset_shape(rc, shapes):
    return list(shapes), list(shapes)


def _reset_dtype(rc, dtypes):
    return list(dtypes), list(dtypes)


register_op(OpDef(
    name="reset_arrays",
    attrs=(Attr("num_arrays", "int", doc="number of input arrays."),),
    arguments=lambda a: [], aux=_arrays(),
    outputs=lambda a: [f"array_{i}_new" for i in range(a["num_arrays"])],
    num_visible_outputs=0,
    infer_shape=_reset_shape, infer_dtype=_reset_dtype,
    interp=interp_by_decomposition("reset_arrays"), vjp=None, differentiable=False,
    decompose=lambda b, op: [b.zeros_like(x) for x in op.inputs],
    aux_update=lambda b, op: [(i, o) for i, o in enumerate(op.outputs)],
    validate=_num_arrays_validate, extra={"mutate_inputs": True},
    doc="Sets every input array to zero in place; no outputs. Not differentiable.",
))
