"""The fused RNN operator (``RNN``: rnn_relu, rnn_tanh, lstm, gru; stacked, bidirectional) and
the private primitives its decomposition uses.

``RNN`` is a composite: ``decompose`` unrolls it over time into primitives, so autodiff
differentiates the unrolled graph (``vjp=None``) and fusion turns each time step's gate math
into one kernel next to one GEMM:

- the packed parameter vector is cut into its matrices once (``_rnn_split``, a copy);
- each layer and direction projects the whole sequence at once (one GEMM ``x W_i2h^T``), then
  cuts it into time steps (``_rnn_split``);
- each step is one GEMM ``h W_h2h^T`` plus elementwise gate math reading the gate blocks of
  the pre-activations through views (``_rnn_take``), which fuses into one kernel;
- the step outputs are gathered into the sequence (``_rnn_concat``).

MXNet 1.9.1's semantics (src/operator/rnn-inl.h, rnn_impl.h; confirmed against the oracle for
every mode, 1-2 layers, uni/bidirectional, inference and training):

- layout TNC: data ``(T, N, I)``, state / state_cell ``(L*D, N, H)`` (index ``layer*D + dir``),
  output ``(T, N, D*H)`` (forward direction in ``[..., :H]``), state outputs ``(L*D, N, H)``;
- parameters: all weights first, per layer then direction: ``W_i2h (G*H, in)``,
  ``W_h2h (G*H, H)``; then all biases in the same order: ``b_i2h (G*H)``, ``b_h2h (G*H)``;
  ``in`` is I for layer 0 and ``D*H`` above. Gates: lstm i, f, c, o; gru r, z, n;
- lstm: ``c' = f c + i tanh(g)``, ``h' = o tanh(c')``; gru (cuDNN's):
  ``n = tanh(x W_n + b_in + r (h U_n + b_hn))``, ``h' = (1 - z) n + z h``;
- ``p``: dropout on each layer's output but the last, in training only (identity at
  inference);
- ``projection_size``, ``lstm_state_clip_min/max`` and ``use_sequence_length`` are not
  supported (UnsupportedError when set); ``lstm_state_clip_nan`` alone does nothing, as in MXNet.
"""
from __future__ import annotations

import numpy as np

from ...base import ShapeError, UnsupportedError
from ..attrs import Attr
from ..registry import (
    ELEMENTWISE,
    VIEW,
    Elementwise,
    Extern,
    OpDef,
    View,
    has_op,
    register_op,
    unify_shapes,
)
from ..types import numel, shape_str

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


# --- packed parameter layout ---------------------------------------------------------------------
def param_layout(mode: str, num_layers: int, bidirectional: bool, input_size: int,
                 state_size: int):
    """Shapes of the pieces of MXNet's packed RNN parameter vector, in order: for each layer
    and direction ``W_i2h, W_h2h``, then for each layer and direction ``b_i2h, b_h2h``."""
    g, h, d = GATES[mode], state_size, 2 if bidirectional else 1
    shapes = []
    for layer in range(num_layers):
        ins = input_size if layer == 0 else d * h
        for _ in range(d):
            shapes += [(g * h, ins), (g * h, h)]
    for _ in range(num_layers * d):
        shapes += [(g * h,), (g * h,)]
    return shapes


def param_size(mode, num_layers, bidirectional, input_size, state_size) -> int:
    """MXNet's GetRnnParamSize (without projection)."""
    return sum(numel(s) for s in param_layout(mode, num_layers, bidirectional, input_size,
                                              state_size))


# --- private primitives --------------------------------------------------------------------------
def _split_outputs(attrs):
    return [f"output{i}" for i in range(len(attrs["shapes"]))]


def _split_rule(rc, shapes):
    x = shapes[0]
    outs = [tuple(s) for s in rc.attrs["shapes"]]
    total = sum(numel(s) for s in outs)
    if x is not None and all(d is not None for d in x) and numel(x) != total:
        raise rc.shape_error(f"input has {numel(x)} elements ({shape_str(x)}); the pieces "
                             f"take {total}")
    return list(shapes), outs


def _split_np(xs, a):
    flat = xs[0].reshape(-1)
    out, off = [], 0
    for s in a["shapes"]:
        n = numel(s)
        out.append(flat[off:off + n].reshape(s).copy())
        off += n
    return tuple(out)


def _split_extern(attrs, ins, outs):
    flat = ins[0].reshape(-1)
    off = 0
    for o in outs:
        n = o.numel()
        o.view(-1).copy_(flat[off:off + n])
        off += n


def _split_vjp(b, op, g):
    gs = g if isinstance(g, list) else [g]
    return (concat_flat(b, gs, op.inputs[0].shape),)


register_op(OpDef(
    name="_rnn_split", attrs=(Attr("shapes", "any", doc="shapes of the pieces, in order"),),
    arguments=("data",), outputs=_split_outputs, infer_shape=_split_rule, interp=_split_np,
    vjp=_split_vjp, lower=Extern(_split_extern, "split"),
    doc="Cut the row-major elements of data into consecutive pieces of the given shapes.",
))


def _concat_rule(rc, shapes):
    want = tuple(rc.attrs["shape"])
    if all(s is not None and None not in s for s in shapes):
        total = sum(numel(s) for s in shapes)
        if total != numel(want):
            raise rc.shape_error(f"inputs have {total} elements; shape=({shape_str(want)}) "
                                 f"needs {numel(want)}")
    return list(shapes), [want]


def _concat_np(xs, a):
    return (np.concatenate([x.reshape(-1) for x in xs]).reshape(a["shape"]),)


def _concat_extern(attrs, ins, outs):
    import torch
    torch.cat([x.reshape(-1) for x in ins], out=outs[0].view(-1))


def _concat_vjp(b, op, g):
    return split_flat(b, g, [v.shape for v in op.inputs])


register_op(OpDef(
    name="_rnn_concat", attrs=(Attr("num_args", "int"), Attr("shape", "shape")),
    variadic="num_args", infer_shape=_concat_rule, interp=_concat_np, vjp=_concat_vjp,
    lower=Extern(_concat_extern, "concat"),
    doc="Concatenate the row-major elements of the inputs into one array of shape.",
))


def _take_rule(rc, shapes):
    x = shapes[0]
    ax, i = rc.attrs["axis"], rc.attrs["index"]
    if x is None:
        return list(shapes), [None]
    if not 0 <= ax < len(x) or (x[ax] is not None and not 0 <= i < x[ax]):
        raise rc.shape_error(f"axis={ax}, index={i} is out of range for ({shape_str(x)})")
    return list(shapes), [tuple(1 if d == ax else s for d, s in enumerate(x))]


def _take_index(attrs, in_shape, out_shape, out_idx):
    idx = list(out_idx)
    idx[attrs["axis"]] = attrs["index"]
    return idx


def _take_np(xs, a):
    x = xs[0]
    i = a["index"]
    return (np.take(x, [i], axis=a["axis"]).copy(),)


register_op(OpDef(
    name="_rnn_take", attrs=(Attr("axis", "int"), Attr("index", "int")),
    arguments=("data",), infer_shape=_take_rule, interp=_take_np,
    vjp=lambda b, op, g: (b.op("_rnn_place", [g], {"axis": op.attrs["axis"],
                                                  "index": op.attrs["index"],
                                                  "size": op.inputs[0].shape[op.attrs["axis"]]}),),
    lower=View("custom", _take_index), traits={VIEW},
    doc="The slice [index:index+1] of data along axis (a view).",
))


def _place_rule(rc, shapes):
    x = shapes[0]
    ax, i, n = rc.attrs["axis"], rc.attrs["index"], rc.attrs["size"]
    if x is None:
        return list(shapes), [None]
    if not 0 <= ax < len(x) or x[ax] not in (1, None) or not 0 <= i < n:
        raise rc.shape_error(f"axis={ax}, index={i}, size={n} does not fit ({shape_str(x)})")
    return list(shapes), [tuple(n if d == ax else s for d, s in enumerate(x))]


def _place_np(xs, a):
    x = xs[0]
    shape = list(x.shape)
    shape[a["axis"]] = a["size"]
    out = np.zeros(shape, dtype=x.dtype)
    sl = [slice(None)] * x.ndim
    sl[a["axis"]] = slice(a["index"], a["index"] + 1)
    out[tuple(sl)] = x
    return (out,)


def _place_formula(k, a, x):
    i = k.index(a["axis"])
    return k.where(k.eq(i, k.const(a["index"], i.dtype)), x, k.const(0, x.dtype))


register_op(OpDef(
    name="_rnn_place", attrs=(Attr("axis", "int"), Attr("index", "int"), Attr("size", "int")),
    arguments=("data",), infer_shape=_place_rule, interp=_place_np,
    vjp=lambda b, op, g: (b.op("_rnn_take", [g], {"axis": op.attrs["axis"],
                                                  "index": op.attrs["index"]}),),
    lower=Elementwise(_place_formula), traits={ELEMENTWISE},
    doc="data (size 1 along axis) placed at index of a zero array of size along axis.",
))


# builder helpers ----------------------------------------------------------------------------------
def split_flat(b, x, shapes):
    """``_rnn_split`` as a list of Values."""
    shapes = tuple(tuple(int(d) for d in s) for s in shapes)
    if len(shapes) == 1:
        return [b.reshape(x, shapes[0])]
    outs = b.op("_rnn_split", [x], {"shapes": shapes})
    return list(outs)


def concat_flat(b, xs, shape):
    shape = tuple(int(d) for d in shape)
    if len(xs) == 1:
        return b.reshape(xs[0], shape)
    return b.op("_rnn_concat", list(xs), {"num_args": len(xs), "shape": shape})


def gate(b, v, k, n_gates):
    """Gate block ``k`` of pre-activations ``v`` (N, n_gates*H) as an (N, H) view."""
    if n_gates == 1:
        return v
    n, gh = v.shape
    h = gh // n_gates
    t = b.op("_rnn_take", [b.reshape(v, (n, n_gates, h))], {"axis": 1, "index": k})
    return b.reshape(t, (n, h))


# --- RNN ------------------------------------------------------------------------------------------
def _rnn_args(a):
    names = ["data", "parameters", "state"]
    if a["mode"] == "lstm":
        names.append("state_cell")
    if a["use_sequence_length"]:
        names.append("sequence_length")
    return names


def _rnn_outputs(a):
    names = ["output"]
    if a["state_outputs"]:
        names.append("state_output")
        if a["mode"] == "lstm":
            names.append("statecell_output")
    return names


def _rnn_validate(rc):
    a = rc.attrs
    for key in ("projection_size", "lstm_state_clip_min", "lstm_state_clip_max"):
        if a[key] is not None:
            raise UnsupportedError(f"{rc.where}: {key}={a[key]}; mxc does not support "
                                   f"{key} yet (leave it unset)")
    if a["use_sequence_length"]:
        raise UnsupportedError(f"{rc.where}: use_sequence_length=True; mxc does not support "
                               "variable-length sequences in RNN yet (pad the batch, or use "
                               "SequenceMask on the output)")
    if a["state_size"] < 1:
        raise rc.attr_error(f"state_size={a['state_size']}; expected state_size >= 1")
    if a["num_layers"] < 1:
        raise rc.attr_error(f"num_layers={a['num_layers']}; expected num_layers >= 1")
    if not 0.0 <= a["p"] < 1.0:
        raise rc.attr_error(f"p={a['p']}; expected 0 <= p < 1")


def _dirs(a):
    return 2 if a["bidirectional"] else 1


def _rnn_rule(rc, shapes):
    a = rc.attrs
    names = rc.input_names()
    n_out = len(_rnn_outputs(a))
    data = shapes[0]
    if data is None:
        return list(shapes), [None] * n_out
    if len(data) != 3:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); expected a rank-3 tensor "
                             "(sequence length, batch size, input size) (layout TNC)")
    t, n, i = data
    h, d, layers = a["state_size"], _dirs(a), a["num_layers"]
    want = {"parameters": (param_size(a["mode"], layers, d == 2, i, h),) if i is not None
            else (None,),
            "state": (layers * d, n, h), "state_cell": (layers * d, n, h)}
    new = [tuple(data)]
    for nm, got in zip(names[1:], shapes[1:]):
        if nm not in want:
            new.append(got)
            continue
        try:
            new.append(unify_shapes(rc, [want[nm], got]))
        except ShapeError:
            raise rc.shape_error(
                f"{nm} has shape ({shape_str(got)}); expected ({shape_str(want[nm])}) from "
                f"mode={a['mode']}, state_size={h}, num_layers={layers}, "
                f"bidirectional={a['bidirectional']} and data ({shape_str(data)})") from None
    n = new[2][1] if new[2] is not None else n
    outs = [(t, n, d * h)]
    if a["state_outputs"]:
        outs.append((layers * d, n, h))
        if a["mode"] == "lstm":
            outs.append((layers * d, n, h))
    return new, outs


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rnn_reference(x, params, h0, c0, mode, state_size, num_layers, bidirectional,
                  dropout=0.0, rng=None):
    """MXNet's RNN forward as an explicit numpy loop (float64 inside).

    Returns (output, final hidden states, final cell states or None)."""
    dt = x.dtype
    x = x.astype(np.float64)
    params = params.astype(np.float64).reshape(-1)
    t_len, _n, i = x.shape
    h, d = state_size, 2 if bidirectional else 1
    pieces = _split_np([params], {"shapes": param_layout(mode, num_layers, bidirectional, i, h)})
    n_w = 2 * num_layers * d
    hy, cy = [], []
    inp = x
    for layer in range(num_layers):
        outs = []
        for di in range(d):
            k = layer * d + di
            wx, wh = pieces[2 * k], pieces[2 * k + 1]
            bx, bh = pieces[n_w + 2 * k], pieces[n_w + 2 * k + 1]
            hh = h0[k].astype(np.float64)
            cc = c0[k].astype(np.float64) if c0 is not None else None
            ys = [None] * t_len
            for step in range(t_len):
                t = t_len - 1 - step if di else step
                gx = inp[t] @ wx.T + bx
                gh = hh @ wh.T + bh
                if mode == "lstm":
                    g = gx + gh
                    ig, fg = _sigmoid(g[:, :h]), _sigmoid(g[:, h:2 * h])
                    cg, og = np.tanh(g[:, 2 * h:3 * h]), _sigmoid(g[:, 3 * h:])
                    cc = fg * cc + ig * cg
                    hh = og * np.tanh(cc)
                elif mode == "gru":
                    r = _sigmoid(gx[:, :h] + gh[:, :h])
                    z = _sigmoid(gx[:, h:2 * h] + gh[:, h:2 * h])
                    nn_ = np.tanh(gx[:, 2 * h:] + r * gh[:, 2 * h:])
                    hh = (1.0 - z) * nn_ + z * hh
                else:
                    g = gx + gh
                    hh = np.tanh(g) if mode == "rnn_tanh" else np.maximum(g, 0.0)
                ys[t] = hh
            hy.append(hh)
            cy.append(cc)
            outs.append(np.stack(ys))
        inp = np.concatenate(outs, axis=2)
        if dropout > 0.0 and layer != num_layers - 1:
            rng = rng or np.random.default_rng()
            inp = inp * (rng.uniform(size=inp.shape) >= dropout) / (1.0 - dropout)
    return (inp.astype(dt), np.stack(hy).astype(dt),
            np.stack(cy).astype(dt) if c0 is not None else None)


def _rnn_np(xs, a):
    lstm = a["mode"] == "lstm"
    drop = a["p"] if a.get("is_train") else 0.0
    out, hy, cy = rnn_reference(xs[0], xs[1], xs[2], xs[3] if lstm else None, a["mode"],
                                a["state_size"], a["num_layers"], a["bidirectional"], drop)
    res = [out]
    if a["state_outputs"]:
        res.append(hy)
        if lstm:
            res.append(cy)
    return tuple(res)


def _step(b, mode, n_gates, gx, gh, bias, bx, bh, h, c):
    """One time step: (h', c') from the step's input projection gx, the recurrent projection
    gh (both (N, G*H)) and the biases."""
    act = {"sigmoid": lambda v: b.op("sigmoid", [v]), "tanh": lambda v: b.op("tanh", [v])}
    if mode == "gru":
        gxb, ghb = b.add(gx, bx), b.add(gh, bh)
        r = act["sigmoid"](b.add(gate(b, gxb, 0, 3), gate(b, ghb, 0, 3)))
        z = act["sigmoid"](b.add(gate(b, gxb, 1, 3), gate(b, ghb, 1, 3)))
        nn_ = act["tanh"](b.add(gate(b, gxb, 2, 3), b.mul(r, gate(b, ghb, 2, 3))))
        return b.add(nn_, b.mul(z, b.sub(h, nn_))), None       # (1 - z) n + z h
    pre = b.add(b.add(gx, gh), bias)
    if mode == "lstm":
        i = act["sigmoid"](gate(b, pre, 0, 4))
        f = act["sigmoid"](gate(b, pre, 1, 4))
        g = act["tanh"](gate(b, pre, 2, 4))
        o = act["sigmoid"](gate(b, pre, 3, 4))
        c2 = b.add(b.mul(f, c), b.mul(i, g))
        return b.mul(o, act["tanh"](c2)), c2
    if mode == "rnn_tanh":
        return act["tanh"](pre), None
    return b.op("relu", [pre]), None


def _rnn_decompose(b, op):
    a = op.attrs
    mode, h, layers, d = a["mode"], a["state_size"], a["num_layers"], _dirs(a)
    lstm = mode == "lstm"
    n_gates = GATES[mode]
    x, params, state = op.inputs[:3]
    cell = op.inputs[3] if lstm else None
    t_len, n, i_size = x.shape
    shapes = param_layout(mode, layers, d == 2, i_size, h)
    pieces = split_flat(b, params, shapes)
    n_w = 2 * layers * d
    h0 = split_flat(b, state, [(n, h)] * (layers * d))
    c0 = split_flat(b, cell, [(n, h)] * (layers * d)) if lstm else [None] * (layers * d)
    inp = b.reshape(x, (t_len * n, i_size))
    hy, cy = [], []
    out = None
    for layer in range(layers):
        seqs = []
        for di in range(d):
            k = layer * d + di
            wx, wh = pieces[2 * k], pieces[2 * k + 1]
            bx, bh = pieces[n_w + 2 * k], pieces[n_w + 2 * k + 1]
            bias = None if mode == "gru" else b.add(bx, bh)
            proj = b.dot(inp, wx, transpose_b=True)                    # (T*N, G*H)
            steps = split_flat(b, proj, [(n, n_gates * h)] * t_len)
            hh, cc = h0[k], c0[k]
            ys = [None] * t_len
            for s in range(t_len):
                t = t_len - 1 - s if di else s
                gh = b.dot(hh, wh, transpose_b=True)                    # (N, G*H)
                hh, cc = _step(b, mode, n_gates, steps[t], gh, bias, bx, bh, hh, cc)
                ys[t] = hh
            hy.append(hh)
            cy.append(cc)
            seqs.append(ys)
        if d == 1:
            out = concat_flat(b, seqs[0], (t_len, n, h))
        else:
            inter = [y for t in range(t_len) for y in (seqs[0][t], seqs[1][t])]
            out = concat_flat(b, inter, (t_len, 2, n, h))
            out = b.reshape(b.transpose(out, (0, 2, 1, 3)), (t_len, n, 2 * h))
        if layer != layers - 1:
            if a["p"] > 0.0 and a["is_train"]:
                out = _dropout(b, op, out)
            inp = b.reshape(out, (t_len * n, d * h))
    res = [out]
    if a["state_outputs"]:
        res.append(concat_flat(b, hy, (layers * d, n, h)))
        if lstm:
            res.append(concat_flat(b, cy, (layers * d, n, h)))
    return res


def _dropout(b, op, x):
    if not has_op("Dropout"):
        raise UnsupportedError(f"RNN '{op.name}': p={op.attrs['p']} in training needs the "
                               "Dropout operator, which mxc does not have yet")
    out = b.op("Dropout", [x], {"p": op.attrs["p"], "is_train": True})
    return out[0] if isinstance(out, tuple) else out      # (output, mask)


register_op(OpDef(
    name="RNN",
    attrs=(Attr("state_size", "int", doc="size of the state for each layer"),
           Attr("num_layers", "int", doc="number of stacked layers"),
           Attr("bidirectional", "bool", False,
                doc="whether to use bidirectional recurrent layers"),
           Attr("mode", "str", choices=("gru", "lstm", "rnn_relu", "rnn_tanh"),
                doc="the type of RNN to compute"),
           Attr("p", "float", 0.0, doc="drop rate of the dropout on the outputs of each RNN "
                                       "layer, except the last layer."),
           Attr("state_outputs", "bool", False,
                doc="Whether to have the states as symbol outputs."),
           Attr("projection_size", "int", None, optional=True, doc="size of project size"),
           Attr("lstm_state_clip_min", "float", None, optional=True,
                doc="Minimum clip value of LSTM states."),
           Attr("lstm_state_clip_max", "float", None, optional=True,
                doc="Maximum clip value of LSTM states."),
           Attr("lstm_state_clip_nan", "bool", False,
                doc="Whether to stop NaN from propagating in state by clipping it to min/max. "
                    "If clipping range is not specified, this option is ignored."),
           Attr("use_sequence_length", "bool", False,
                doc="If set to true, this layer takes in an extra input parameter "
                    "`sequence_length` to specify variable length sequence")),
    arguments=_rnn_args, outputs=_rnn_outputs, infer_shape=_rnn_rule, interp=_rnn_np,
    decompose=_rnn_decompose, validate=_rnn_validate, mode_dependent=True,
    doc="Multi-layer (bidirectional) RNN, LSTM or GRU over a TNC sequence, with MXNet's packed "
        "parameter vector.",
))
