"""``_contrib_hawkesll``: the log-likelihood of univariate Hawkes processes (MXNet 1.9.1), and
its gradient operator ``_contrib_backward_hawkesll``.

Inputs: ``lda`` (N, K) background intensities, ``alpha`` (K,) branching ratios, ``beta`` (K,)
decays, ``state`` (N, K) the memory ``s_k(0)``, ``lags`` (N, T) interarrival times, ``marks``
(N, T) int32 process ids, ``valid_length`` (N,) points per sequence, ``max_time`` (N,) the
observation period. For each point j < valid_length (time ``t += lags[j]``, mark ``k``, ``d``
the time since mark k's previous point, ``e = exp(-beta_k d)``) the log-likelihood gains
``log(lda_k + alpha_k beta_k s_k e) - (lda_k d + alpha_k s_k (1 - e))`` and ``s_k`` becomes
``1 + s_k e``; each mark's remaining compensator up to ``max_time`` is subtracted at the end.
Outputs: ``output`` (N,) the log-likelihood, ``out_state`` (N, K) the memory at ``max_time``.

Gradient, as MXNet's: ``lda``, ``alpha`` and ``beta`` get the derivative of ``output`` (the head
gradient of ``out_state`` is ignored); ``state`` and the observations get none.

Lowering: a library call (torch, vectorised over the batch), because the likelihood is a
sequential recursion over each sequence's points with data-dependent marks, not a composition
of tensor primitives; the gradient is torch's autograd of that recursion. The interpreter
follows MXNet's kernels point by point (and its hand-derived gradient recursion), so the two
implementations check each other.
"""
from __future__ import annotations

import numpy as np

from ..registry import Extern, OpDef, forward_shape, register_op
from ..types import DType, shape_str

_ARGS = ("lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time")


def _rule(rc, shapes):
    mu, alpha, beta, state, lags, marks, vl, mt = (tuple(s) for s in shapes)
    ok = len(mu) == 2 and len(lags) == 2
    if ok:
        (N, K), T = mu, lags[1]
        ok = (alpha == (K,) and beta == (K,) and state == (N, K) and lags[0] == N
              and marks == (N, T) and vl == (N,) and mt == (N,))
    if not ok:
        got = ", ".join(f"{n} ({shape_str(s)})" for n, s in zip(_ARGS, shapes))
        raise rc.shape_error(f"got {got}; expected lda (N, K), alpha (K,), beta (K,), state "
                             "(N, K), lags (N, T), marks (N, T), valid_length (N,), max_time "
                             "(N,)")
    return [(N,), (N, K)]


def _dtype(rc, dts):
    d = next((t for i, t in enumerate(dts) if t is not None and i != 5), None)
    if d is None and rc.out_dtypes:
        d = next((t for t in rc.out_dtypes if t is not None), None)
    for n, t in zip(_ARGS, dts):
        if n != "marks" and t is not None and d is not None and t != d:
            raise rc.dtype_error(f"{n} has dtype {t.np_name}; expected {d.np_name} (every "
                                 "input but marks shares one float dtype)")
    i32 = DType.parse("int32")
    if dts[5] is not None and dts[5] != i32:
        raise rc.dtype_error(f"marks has dtype {dts[5].np_name}; expected int32")
    ins = [i32 if i == 5 else d for i in range(8)]
    return ins, [d, d]


# --- the reference: MXNet's kernels, point by point -------------------------------------------------
def _steps(vl, T):
    return int(min(T, max(0, np.ceil(vl))))      # MXNet: for (j = 0; j < valid_length; ++j)


def _forward_np(xs, a=None):
    mu, alpha, beta, state, lags, marks, vl, mt = xs
    dt = mu.dtype
    N, K = mu.shape
    ll = np.zeros(N, np.float64)
    out_state = state.astype(np.float64).copy()
    for i in range(N):
        t, last, s = 0.0, np.zeros(K), out_state[i]
        for j in range(_steps(vl[i], lags.shape[1])):
            c = int(marks[i, j])
            t += lags[i, j]
            d = t - last[c]
            ed = np.exp(-beta[c] * d)
            lda = mu[i, c] + alpha[c] * beta[c] * s[c] * ed
            ll[i] += np.log(lda) - (mu[i, c] * d + alpha[c] * s[c] * (1 - ed))
            s[c] = 1 + s[c] * ed
            last[c] = t
        d = mt[i] - last
        ed = np.exp(-beta * d)
        ll[i] -= np.sum(mu[i] * d + alpha * s * (1 - ed))
        out_state[i] = ed * s
    return ll.astype(dt), out_state.astype(dt)


def _backward_np(xs, a=None):
    g_ll, _g_state, mu, alpha, beta, state, lags, marks, vl, mt = xs
    N, K = mu.shape
    gmu = np.zeros((N, K))
    galpha = np.zeros((N, K))
    gbeta = np.zeros((N, K))
    for i in range(N):
        t, last = 0.0, np.zeros(K)
        s, ds = state[i].astype(np.float64).copy(), np.zeros(K)
        for j in range(_steps(vl[i], lags.shape[1])):
            c = int(marks[i, j])
            t += lags[i, j]
            d = t - last[c]
            ed = np.exp(-beta[c] * d)
            lda = mu[i, c] + alpha[c] * beta[c] * s[c] * ed
            gmu[i, c] += 1 / lda - d
            galpha[i, c] += beta[c] * s[c] * ed / lda - s[c] * (1 - ed)
            gbeta[i, c] += (alpha[c] * ed * (s[c] * (1 - beta[c] * d) + beta[c] * ds[c]) / lda
                            - alpha[c] * (ds[c] * (1 - ed) + s[c] * d * ed))
            ds[c] = ed * (-d * s[c] + ds[c])
            s[c] = 1 + s[c] * ed
            last[c] = t
        d = mt[i] - last
        ed = np.exp(-beta * d)
        gmu[i] -= d
        galpha[i] -= s * (1 - ed)
        gbeta[i] -= alpha * (ds * (1 - ed) + s * d * ed)
        gmu[i] *= g_ll[i]
        galpha[i] *= g_ll[i]
        gbeta[i] *= g_ll[i]
    dt = mu.dtype
    zeros = [np.zeros_like(x) for x in (state, lags, marks, vl, mt)]
    return (gmu.astype(dt), galpha.sum(0).astype(dt), gbeta.sum(0).astype(dt), *zeros)


# --- the library lowering: the recursion in torch, vectorised over the batch ---------------------
def hawkes_torch(mu, alpha, beta, state, lags, marks, vl, mt):
    """(log-likelihood (N,), out_state (N, K)) as differentiable torch tensors."""
    import torch
    N, K = mu.shape
    T = lags.shape[1]
    steps = torch.clamp(torch.ceil(vl.to(torch.float64)), 0, T)
    t = torch.zeros(N, dtype=mu.dtype, device=mu.device)
    last = torch.zeros(N, K, dtype=mu.dtype, device=mu.device)
    s = state
    ll = torch.zeros(N, dtype=mu.dtype, device=mu.device)
    for j in range(T):
        active = (steps > j).to(mu.dtype)
        if not bool(active.any()):
            break
        oh = torch.nn.functional.one_hot(marks[:, j].long().clamp(0, K - 1), K).to(mu.dtype)
        oh = oh * active[:, None]
        t = t + active * lags[:, j]
        s_c, last_c, mu_c = (s * oh).sum(1), (last * oh).sum(1), (mu * oh).sum(1)
        a_c, b_c = oh @ alpha, oh @ beta
        d = t - last_c
        ed = torch.exp(-b_c * d)
        lda = torch.where(active > 0, mu_c + a_c * b_c * s_c * ed, torch.ones_like(mu_c))
        ll = ll + active * (torch.log(lda) - (mu_c * d + a_c * s_c * (1 - ed)))
        s = s + oh * ((1 + s_c * ed)[:, None] - s)
        last = last + oh * (t[:, None] - last)
    d = mt[:, None] - last
    ed = torch.exp(-beta[None, :] * d)
    ll = ll - (mu * d + alpha[None, :] * s * (1 - ed)).sum(1)
    return ll, ed * s


def _forward_fn(attrs, ins, outs):
    import torch
    with torch.no_grad():
        ll, st = hawkes_torch(*ins)
    outs[0].copy_(ll)
    outs[1].copy_(st)


def _backward_fn(attrs, ins, outs):
    import torch
    g_ll = ins[0]
    with torch.enable_grad():
        params = [x.detach().clone().requires_grad_(True) for x in ins[2:5]]
        ll, _ = hawkes_torch(*params, *ins[5:])
        grads = torch.autograd.grad((ll * g_ll).sum(), params)
    for o, g in zip(outs[:3], grads):
        o.copy_(g)
    for o in outs[3:]:
        o.zero_()


def _vjp(b, op, g):
    g_ll, g_state = (g if isinstance(g, list) else [g, b.zeros_like(op.outputs[1])])
    grads = b.op("_contrib_backward_hawkesll", [g_ll, g_state, *op.inputs])
    return (grads[0], grads[1], grads[2]) + (None,) * 5


register_op(OpDef(
    name="_contrib_hawkesll", arguments=_ARGS, outputs=("output", "out_state"),
    infer_shape=forward_shape(_rule), infer_dtype=_dtype, interp=_forward_np, vjp=_vjp,
    lower=Extern(_forward_fn, "hawkesll"),
    extra={"library_reason": "a sequential recursion over each sequence's points"},
    doc="Log-likelihood of univariate Hawkes processes over ragged sequences of marks and "
        "interarrival times, and the final memory state; a library call (a sequential "
        "recursion). Gradient: d output / d (lda, alpha, beta), as MXNet's.",
))


def _bw_rule(rc, shapes):
    from ..registry import RuleCtx, get_op
    od = get_op("_contrib_hawkesll")
    _rule(RuleCtx(od, {}, rc.name), shapes[2:])
    return [tuple(s) for s in shapes[2:]]


def _bw_dtype(rc, dts):
    from ..registry import RuleCtx, get_op
    od = get_op("_contrib_hawkesll")
    ins, _ = _dtype(RuleCtx(od, {}, rc.name, None, None, None), dts[2:])
    return [ins[0], ins[0]] + ins, ins


register_op(OpDef(
    name="_contrib_backward_hawkesll",
    arguments=("ograd_output", "ograd_out_state") + _ARGS,
    outputs=tuple(f"grad_{n}" for n in _ARGS),
    infer_shape=forward_shape(_bw_rule), infer_dtype=_bw_dtype, interp=_backward_np,
    differentiable=False, lower=Extern(_backward_fn, "hawkesll_backward"),
    extra={"library_reason": "the gradient of a sequential recursion (torch autograd)"},
    doc="The gradient of _contrib_hawkesll: d output / d (lda, alpha, beta) times the head "
        "gradient of output (the out_state head is ignored, as in MXNet); zeros for state and "
        "the observations.",
))
