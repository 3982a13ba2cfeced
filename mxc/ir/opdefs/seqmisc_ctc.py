"""``CTCLoss`` (aliases ``ctc_loss``, ``_contrib_CTCLoss``, ``_contrib_ctc_loss``), MXNet 1.9.1's
Connectionist Temporal Classification loss.

- ``data`` ``(T, N, A)`` holds unnormalised activations: the log-softmax over the alphabet is
  taken inside. ``label`` ``(N, S)`` holds class indices; channel 0 is the blank when
  ``blank_label='first'`` (labels 1..A-1, padding value 0), channel A-1 when ``'last'``
  (labels 0..A-2, padding value -1). Without ``use_label_lengths`` a sequence ends at the first
  padding value; with it, ``label_lengths`` (N,) gives the lengths. ``data_lengths`` (N,), with
  ``use_data_lengths``, gives each sequence's number of time steps (else T); labels and
  lengths are rounded to the nearest integer (half away from zero), as MXNet reads them, and
  lengths are clipped to the array's extent. As MXNet's, the gradient is zeroed from time step
  ``trunc(data_lengths)`` on (its sequence mask truncates where its length reader rounds: the
  two agree on integer lengths).
- Outputs (named ``output0``, ``output1`` as in MXNet): the loss (N,), the negative log-likelihood of each batch element's label, and a hidden
  ``grad`` (T, N, A), the loss's gradient with respect to ``data`` (zero past each data length),
  computed in the forward pass as MXNet's operator does.
- Gradient: MXNet's ``_backward_ctc_loss``, the head gradient of ``out`` broadcast over time
  and alphabet times the hidden ``grad``; ``label`` and the lengths get none.

Lowering: a library call (torch's ``ctc_loss`` and its autograd), because the forward-backward
recursion over alignments is a dynamic program over label positions, not a composition of the
tensor primitives that fusion works with. The interpreter runs the same function on the CPU.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import Extern, OpDef, register_op
from ..types import shape_str


def _arguments(a):
    names = ["data", "label"]
    if a.get("use_data_lengths"):
        names.append("data_lengths")
    if a.get("use_label_lengths"):
        names.append("label_lengths")
    return names


def _rule(rc, shapes):
    a = rc.attrs
    names = _arguments(a)
    d, lab = shapes[0], shapes[1]
    if d is None or lab is None:
        return list(shapes), [None if d is None else (d[1],), d]
    if len(d) != 3:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected 3-d (sequence_length, "
                             "batch_size, alphabet_size)")
    if len(lab) != 2:
        raise rc.shape_error(f"label has shape ({shape_str(lab)}); expected 2-d (batch_size, "
                             "label_sequence_length)")
    if lab[0] != d[1]:
        raise rc.shape_error(f"label has shape ({shape_str(lab)}) and data ({shape_str(d)}); "
                             "expected the same batch size")
    if lab[1] > d[0]:
        raise rc.shape_error(f"label has shape ({shape_str(lab)}) and data ({shape_str(d)}); "
                             "the max number of labels cannot exceed the sequence length")
    new = [tuple(d), tuple(lab)]
    for n, s in zip(names[2:], shapes[2:]):
        if s is not None and tuple(s) != (d[1],):
            raise rc.shape_error(f"{n} has shape ({shape_str(s)}); expected ({d[1]},), one "
                                 "length per batch element")
        new.append((d[1],))
    return new, [(d[1],), tuple(d)]


def _dtype(rc, dts):
    d = dts[0]
    if d is not None and not d.is_float:
        raise rc.dtype_error(f"data has dtype {d.np_name}; expected a float dtype")
    return list(dts), [d, d]


def _lround(t):
    """C's lround: to the nearest integer, halves away from zero (MXNet's index reader)."""
    import torch
    x = t.to(torch.float64)
    return (torch.sign(x) * torch.floor(x.abs() + 0.5)).to(torch.int64)


def ctc_torch(attrs, *ins):
    """(loss (N,), grad (T, N, A)) on torch tensors (the op's inputs in order), on data's
    device and dtype."""
    import torch
    data, label = ins[0], ins[1]
    rest = list(ins[2:])
    data_lengths = rest.pop(0) if attrs["use_data_lengths"] else None
    label_lengths = rest.pop(0) if attrs["use_label_lengths"] else None
    T, N, A = data.shape
    first = attrs["blank_label"] == "first"
    blank = 0 if first else A - 1
    lab = _lround(label)
    S = lab.shape[1]
    if label_lengths is not None:
        llen = _lround(label_lengths).clamp(0, S)
    else:
        pad = lab == (0 if first else -1)
        has = pad.any(dim=1)
        llen = torch.where(has, pad.to(torch.int8).argmax(dim=1), torch.full_like(has, S,
                                                                               dtype=torch.int64))
    if data_lengths is not None:
        dlen = _lround(data_lengths).clamp(0, T)
    else:
        dlen = torch.full((N,), T, dtype=torch.int64, device=data.device)
    pos = torch.arange(S, device=data.device).unsqueeze(0)
    targets = torch.where(pos < llen.unsqueeze(1), lab, torch.zeros_like(lab)).clamp(0, A - 1)
    with torch.enable_grad():
        x = data.detach().clone().requires_grad_(True)
        logp = torch.log_softmax(x, dim=2)
        loss = torch.nn.functional.ctc_loss(logp, targets, dlen, llen, blank=blank,
                                            reduction="none", zero_infinity=False)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    if data_lengths is not None:      # MXNet's SequenceMask reads the lengths truncated
        keep = torch.arange(T, device=data.device).unsqueeze(1) < \
            data_lengths.to(torch.float64).trunc().unsqueeze(0)
        grad = grad * keep.unsqueeze(2).to(grad.dtype)
    return loss.detach().to(data.dtype), grad.detach().to(data.dtype)


def _interp(xs, a):
    import torch
    ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
    loss, grad = ctc_torch(a, *ts)
    return loss.numpy(), grad.numpy()


def _extern(attrs, ins, outs):
    loss, grad = ctc_torch(attrs, *ins)
    outs[0].copy_(loss)
    outs[1].copy_(grad)


def _vjp(b, op, g):
    """MXNet's _backward_ctc_loss: head gradient of ``out`` (N,) times the forward's gradient
    (T, N, A); the gradient of the hidden ``grad`` output is ignored."""
    g_out = g[0] if isinstance(g, list) else g
    T, N, A = op.inputs[0].shape
    gb = b.broadcast_to(b.reshape(g_out, (1, N, 1)), (T, N, A))
    return (b.mul(gb, op.outputs[1]),) + (None,) * (len(op.inputs) - 1)


register_op(OpDef(
    name="CTCLoss", aliases=("ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"),
    attrs=(Attr("use_data_lengths", "bool", False, doc="Whether the data lengths are decided "
                "by `data_lengths`. If false, the lengths are equal to the max sequence "
                "length."),
           Attr("use_label_lengths", "bool", False, doc="Whether the label lengths are decided "
                "by `label_lengths`, or derived from the padding value (0 with "
                "blank_label='first', -1 with 'last')."),
           Attr("blank_label", "str", "first", choices=("first", "last"),
                doc="Set the label that is reserved for blank label: channel 0 ('first') or "
                    "alphabet_size-1 ('last').")),
    arguments=_arguments, outputs=("output0", "output1"), num_visible_outputs=1,
    infer_shape=_rule, infer_dtype=_dtype, interp=_interp, vjp=_vjp,
    lower=Extern(_extern, "ctc_loss"),
    extra={"library_reason": "a dynamic program over alignments (CTC forward-backward)"},
    doc="Connectionist Temporal Classification loss per batch element (log-softmax inside); "
        "a library call (torch's CTC: a dynamic program). Gradient: the head gradient times "
        "the forward's gradient of the loss.",
))
