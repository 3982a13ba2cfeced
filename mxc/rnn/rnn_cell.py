"""MXNet 1.x's recurrent cells (``mx.rnn``): symbol builders that unroll RNN, LSTM and GRU
cells over time, stack, reverse and modify them, with MXNet's parameter and node names.

The graphs are the ones MXNet 1.9.1's ``python/mxnet/rnn/rnn_cell.py`` builds, node for node
(names such as ``lstm_i2h_weight``, ``lstm_t0_i2h``, ``lstm_l0_i2h_weight`` for unfused stacks,
``split0`` / ``concat0`` for automatic names), so ``list_arguments``, ``list_outputs``,
``infer_shape`` and saved JSON agree with MXNet's; the tests compare them with what MXNet
reported for the same configurations. ``FusedRNNCell.unroll`` builds the fused ``RNN`` operator,
which mxc compiles into per-step kernels (see ``mxc/ir/opdefs/rnn.py``).
"""
from __future__ import annotations

import json
import warnings

import numpy as np

from .. import symbol
from ..base import MXNetError
from ..symbol import Symbol

__all__ = ["RNNParams", "BaseRNNCell", "RNNCell", "LSTMCell", "GRUCell", "FusedRNNCell",
           "SequentialRNNCell", "DropoutCell", "ModifierCell", "ZoneoutCell", "ResidualCell",
           "BidirectionalCell"]


# -- helpers ---------------------------------------------------------------------------------------
def _zeros(shape=None, dtype=None, **kwargs):
    """MXNet's ``symbol.zeros``: a Python wrapper that calls ``_internal._zeros`` (automatic
    names ``_zeros0`` ...) and always writes the dtype (float32 by default)."""
    return symbol._internal._zeros(shape=shape, dtype="float32" if dtype is None else dtype,
                                   **kwargs)


class _Initializer:
    """The ``__init__`` attribute MXNet's initializer objects write (``Initializer.dumps``):
    ``["lstmbias", {"forget_bias": 1.0}]``. Used when ``mx.init`` does not provide the class."""

    def __init__(self, name, **kwargs):
        self._name = name
        self._kwargs = kwargs

    def dumps(self):
        return json.dumps([self._name, self._kwargs])


def _initializer(cls, **kwargs):
    from .. import init as _init_mod
    return getattr(_init_mod, cls)(**kwargs)


def _make_init(cls, **kwargs):
    try:
        return _initializer(cls, **kwargs)
    except (ImportError, AttributeError):
        return _Initializer(cls.lower(), **kwargs)


def _check(cond, msg):
    if not cond:
        raise MXNetError(msg)


def _cells_state_info(cells):
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args):
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args):
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """Inputs as a list of per-step symbols (``merge=False``), one merged symbol
    (``merge=True``) or as given (``None``); returns (inputs, time axis of ``layout``)."""
    _check(inputs is not None, "unroll(inputs=None) has been deprecated. Please create input "
                               "variables outside unroll.")
    axis = layout.find("T")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if isinstance(inputs, Symbol):
        if merge is False:
            _check(len(inputs.list_outputs()) == 1,
                   "unroll doesn't allow grouped symbol as input. Please convert to list with "
                   "list(inputs) first or let unroll handle splitting.")
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length,
                                       squeeze_axis=1))
    else:
        _check(length is None or len(inputs) == length,
               f"unroll: {len(inputs)} inputs given for length={length}")
        if merge is True:
            inputs = [symbol.expand_dims(i, axis=axis) for i in inputs]
            inputs = symbol.Concat(*inputs, dim=axis)
            in_axis = axis
    if isinstance(inputs, Symbol) and axis != in_axis:
        inputs = symbol.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


def _as_numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def _like(ref, values: np.ndarray):
    """An NDArray like ``ref`` (context, dtype) holding ``values``; numpy in, numpy out."""
    if hasattr(ref, "asnumpy"):
        from .. import ndarray as nd
        return nd.array(values, ctx=ref.context, dtype=ref.dtype)
    return values


# -- parameters ------------------------------------------------------------------------------------
class RNNParams:
    """Container for the variables of cells, shared between cells that are given the same one.

    ``get(name, **kwargs)`` returns the variable ``prefix + name``, created (with ``kwargs`` for
    ``mx.sym.Variable``) on first use.
    """

    def __init__(self, prefix=""):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


# -- base class ------------------------------------------------------------------------------------
class BaseRNNCell:
    """Abstract base class of RNN cells.

    prefix: prefix of the names of layers (and of weights when ``params`` is None);
    params: an :class:`RNNParams` shared with other cells (a new one when None).
    """

    def __init__(self, prefix="", params=None):
        if params is None:
            params = RNNParams(prefix)
            self._own_params = True
        else:
            self._own_params = False
        self._prefix = prefix
        self._params = params
        self._modified = False
        self.reset()

    def reset(self):
        """Reset the step counters before reusing the cell for another graph."""
        self._init_counter = -1
        self._counter = -1
        if hasattr(self, "_cells"):
            for cell in self._cells:
                cell.reset()

    def __call__(self, inputs, states):
        """One time step: ``(output, new states)`` from ``inputs`` (batch, features) and the
        states of the previous step (or ``begin_state()``)."""
        raise NotImplementedError()

    @property
    def params(self):
        """The parameters of this cell."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """Shape and layout of each state: ``[{'shape': (0, H), '__layout__': 'NC'}, ...]``."""
        raise NotImplementedError()

    @property
    def state_shape(self):
        return [ele["shape"] for ele in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def begin_state(self, func=_zeros, **kwargs):
        """The initial states: ``func(name='<prefix>begin_state_<i>', shape=..., __layout__=...,
        **kwargs)`` for each state (``mx.sym.zeros`` by default; ``mx.sym.Variable`` to feed
        states as inputs)."""
        _check(not self._modified,
               "After applying modifier cells (e.g. DropoutCell) the base cell cannot be "
               "called directly. Call the modifier cell instead.")
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            state = func(name=f"{self._prefix}begin_state_{self._init_counter}",
                         **kwargs)
            states.append(state)
        return states

    def unpack_weights(self, args):
        """Split each fused i2h/h2h weight and bias of ``args`` (name -> NDArray) into one
        array per gate (``lstm_i2h_i_weight`` ...)."""
        args = args.copy()
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ["i2h", "h2h"]:
            weight = args.pop(f"{self._prefix}{group}_weight")
            bias = args.pop(f"{self._prefix}{group}_bias")
            w, b = _as_numpy(weight), _as_numpy(bias)
            for j, gate in enumerate(self._gate_names):
                args[f"{self._prefix}{group}{gate}_weight"] = \
                    _like(weight, w[j * h:(j + 1) * h].copy())
                args[f"{self._prefix}{group}{gate}_bias"] = \
                    _like(bias, b[j * h:(j + 1) * h].copy())
        return args

    def pack_weights(self, args):
        """The inverse of :meth:`unpack_weights`."""
        args = args.copy()
        if not self._gate_names:
            return args
        for group in ["i2h", "h2h"]:
            weight, bias = [], []
            for gate in self._gate_names:
                weight.append(args.pop(f"{self._prefix}{group}{gate}_weight"))
                bias.append(args.pop(f"{self._prefix}{group}{gate}_bias"))
            args[f"{self._prefix}{group}_weight"] = _like(
                weight[0], np.concatenate([_as_numpy(w) for w in weight]))
            args[f"{self._prefix}{group}_bias"] = _like(
                bias[0], np.concatenate([_as_numpy(b) for b in bias]))
        return args

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        """Unroll the cell over ``length`` steps.

        inputs: one symbol shaped (batch, length, ...) for ``layout='NTC'`` or (length, batch,
        ...) for ``'TNC'``, or a list of ``length`` symbols shaped (batch, ...);
        begin_state: the initial states (``begin_state()`` when None);
        merge_outputs: True gives one symbol in ``layout``, False a list of per-step symbols,
        None whatever is natural for the cell.

        Returns ``(outputs, states)``: the outputs and the states after the last step.
        """
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


# -- cells -----------------------------------------------------------------------------------------
class RNNCell(BaseRNNCell):
    """Simple recurrent cell: ``h' = act(W_i2h x + b_i2h + W_h2h h + b_h2h)``.

    num_hidden: number of units; activation: 'tanh' (default), 'relu', ... or a callable;
    prefix: ``'rnn_'`` by default; params: shared :class:`RNNParams`.
    """

    def __init__(self, num_hidden, activation="tanh", prefix="rnn_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._activation = activation
        self._iW = self.params.get("i2h_weight")
        self._iB = self.params.get("i2h_bias")
        self._hW = self.params.get("h2h_weight")
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ("",)

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden, name=f"{name}h2h")
        output = self._get_activation(i2h + h2h, self._activation, name=f"{name}out")
        return output, [output]


class LSTMCell(BaseRNNCell):
    """Long short-term memory cell (gates i, f, c, o in one FullyConnected each for i2h and
    h2h). ``forget_bias`` (default 1.0) is added to the forget gate through the initializer
    of ``i2h_bias`` (``LSTMBias``). prefix: ``'lstm_'`` by default."""

    def __init__(self, num_hidden, prefix="lstm_", params=None, forget_bias=1.0):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get("i2h_weight")
        self._hW = self.params.get("h2h_weight")
        self._iB = self.params.get("i2h_bias",
                                   init=_make_init("LSTMBias", forget_bias=forget_bias))
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"},
                {"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ["_i", "_f", "_c", "_o"]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}h2h")
        gates = i2h + h2h
        sliced = symbol.SliceChannel(gates, num_outputs=4, name=f"{name}slice")
        in_gate = symbol.Activation(sliced[0], act_type="sigmoid", name=f"{name}i")
        forget_gate = symbol.Activation(sliced[1], act_type="sigmoid", name=f"{name}f")
        in_transform = symbol.Activation(sliced[2], act_type="tanh", name=f"{name}c")
        out_gate = symbol.Activation(sliced[3], act_type="sigmoid", name=f"{name}o")
        next_c = symbol._internal._plus(forget_gate * states[1], in_gate * in_transform,
                                        name=f"{name}state")
        next_h = symbol._internal._mul(out_gate, symbol.Activation(next_c, act_type="tanh"),
                                       name=f"{name}out")
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """Gated recurrent unit, cuDNN's variant: ``n = tanh(W_n x + b_n + r (U_n h + c_n))``,
    ``h' = (1 - z) n + z h``. prefix: ``'gru_'`` by default."""

    def __init__(self, num_hidden, prefix="gru_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get("i2h_weight")
        self._iB = self.params.get("i2h_bias")
        self._hW = self.params.get("h2h_weight")
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ["_r", "_z", "_o"]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        prev_h = states[0]
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_i2h")
        h2h = symbol.FullyConnected(data=prev_h, weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_h2h")
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name=f"{name}_i2h_slice")
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name=f"{name}_h2h_slice")
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type="sigmoid", name=f"{name}_r_act")
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type="sigmoid",
                                        name=f"{name}_z_act")
        next_h_tmp = symbol.Activation(i2h + reset_gate * h2h, act_type="tanh",
                                       name=f"{name}_h_act")
        next_h = symbol._internal._plus((1. - update_gate) * next_h_tmp, update_gate * prev_h,
                                        name=f"{name}out")
        return next_h, [next_h]


class FusedRNNCell(BaseRNNCell):
    """A whole (stacked, bidirectional) RNN/LSTM/GRU as one ``RNN`` operator with one packed
    parameter vector ``<prefix>parameters``.

    num_hidden, num_layers (1), mode ('lstm'; 'rnn_relu', 'rnn_tanh', 'gru'), bidirectional,
    dropout (between layers, in training), get_next_state (return the final states),
    forget_bias (through the ``FusedRNN`` initializer), prefix (``'<mode>_'``), params.
    """

    def __init__(self, num_hidden, num_layers=1, mode="lstm", bidirectional=False,
                 dropout=0., get_next_state=False, forget_bias=1.0, prefix=None, params=None):
        if prefix is None:
            prefix = f"{mode}_"
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._dropout = dropout
        self._get_next_state = get_next_state
        self._directions = ["l", "r"] if bidirectional else ["l"]
        initializer = _make_init("FusedRNN", init=None, num_hidden=num_hidden,
                                 num_layers=num_layers, mode=mode, bidirectional=bidirectional,
                                 forget_bias=forget_bias)
        self._parameter = self.params.get("parameters", init=initializer)

    @property
    def state_info(self):
        b = self._bidirectional + 1
        n = (self._mode == "lstm") + 1
        return [{"shape": (b * self._num_layers, 0, self._num_hidden), "__layout__": "LNC"}
                for _ in range(n)]

    @property
    def _gate_names(self):
        return {"rnn_relu": [""], "rnn_tanh": [""], "lstm": ["_i", "_f", "_c", "_o"],
                "gru": ["_r", "_z", "_o"]}[self._mode]

    @property
    def _num_gates(self):
        return len(self._gate_names)

    def _slice_weights(self, n_elems, li, lh):
        """name -> (offset, shape) of each gate's piece of the packed vector, MXNet's order:
        every layer/direction's i2h then h2h weights per gate, then the biases likewise."""
        out = {}
        b = len(self._directions)
        p = 0
        for layer in range(self._num_layers):
            for direction in self._directions:
                for gate in self._gate_names:
                    name = f"{self._prefix}{direction}{layer}_i2h{gate}_weight"
                    shape = (lh, b * lh) if layer > 0 else (lh, li)
                    out[name] = (p, shape)
                    p += shape[0] * shape[1]
                for gate in self._gate_names:
                    name = f"{self._prefix}{direction}{layer}_h2h{gate}_weight"
                    out[name] = (p, (lh, lh))
                    p += lh * lh
        for layer in range(self._num_layers):
            for direction in self._directions:
                for group in ("i2h", "h2h"):
                    for gate in self._gate_names:
                        name = f"{self._prefix}{direction}{layer}_{group}{gate}_bias"
                        out[name] = (p, (lh,))
                        p += lh
        _check(p == n_elems, "Invalid parameters size for FusedRNNCell")
        return out

    def unpack_weights(self, args):
        args = args.copy()
        arr = args.pop(self._parameter.name)
        flat = _as_numpy(arr).reshape(-1)
        b = len(self._directions)
        m = self._num_gates
        h = self._num_hidden
        num_input = flat.size // b // h // m - (self._num_layers - 1) * (h + b * h + 2) - h - 2
        for name, (p, shape) in self._slice_weights(flat.size, num_input, h).items():
            n = int(np.prod(shape))
            args[name] = _like(arr, flat[p:p + n].reshape(shape).copy())
        return args

    def pack_weights(self, args):
        args = args.copy()
        b = self._bidirectional + 1
        m = self._num_gates
        c = self._gate_names
        h = self._num_hidden
        w0 = args[f"{self._prefix}l0_i2h{c[0]}_weight"]
        num_input = _as_numpy(w0).shape[1]
        total = ((num_input + h + 2) * h * m * b
                 + (self._num_layers - 1) * m * h * (h + b * h + 2) * b)
        flat = np.zeros((total,), dtype=_as_numpy(w0).dtype)
        for name, (p, shape) in self._slice_weights(total, num_input, h).items():
            v = _as_numpy(args.pop(name))
            flat[p:p + v.size] = v.reshape(-1)
        args[self._parameter.name] = _like(w0, flat)
        return args

    def __call__(self, inputs, states):
        raise NotImplementedError("FusedRNNCell cannot be stepped. Please use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, True)
        if axis == 1:
            warnings.warn("NTC layout detected. Consider using TNC for FusedRNNCell for faster "
                          "speed", stacklevel=2)
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        else:
            _check(axis == 0, f"Unsupported layout {layout}")
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        if self._mode == "lstm":
            states = {"state": states[0], "state_cell": states[1]}
        else:
            states = {"state": states[0]}
        rnn = symbol.RNN(data=inputs, parameters=self._parameter,
                         state_size=self._num_hidden, num_layers=self._num_layers,
                         bidirectional=self._bidirectional, p=self._dropout,
                         state_outputs=self._get_next_state, mode=self._mode,
                         name=self._prefix + "rnn", **states)
        attr = {"__layout__": "LNC"}
        if not self._get_next_state:
            outputs, states = rnn, []
        elif self._mode == "lstm":
            rnn[1]._set_attr(**attr)
            rnn[2]._set_attr(**attr)
            outputs, states = rnn[0], [rnn[1], rnn[2]]
        else:
            rnn[1]._set_attr(**attr)
            outputs, states = rnn[0], [rnn[1]]
        if axis == 1:
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def unfuse(self):
        """The same network as a :class:`SequentialRNNCell` of unfused cells (named
        ``<prefix>l<i>_`` / ``<prefix>r<i>_``), steppable and with the weights
        :meth:`unpack_weights` gives."""
        stack = SequentialRNNCell()
        make = {"rnn_relu": lambda p: RNNCell(self._num_hidden, activation="relu", prefix=p),
                "rnn_tanh": lambda p: RNNCell(self._num_hidden, activation="tanh", prefix=p),
                "lstm": lambda p: LSTMCell(self._num_hidden, prefix=p),
                "gru": lambda p: GRUCell(self._num_hidden, prefix=p)}[self._mode]
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(make(f"{self._prefix}l{i}_"),
                                            make(f"{self._prefix}r{i}_"),
                                            output_prefix=f"{self._prefix}bi_l{i}_"))
            else:
                stack.add(make(f"{self._prefix}l{i}_"))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix=f"{self._prefix}_dropout{i}_"))
        return stack


class SequentialRNNCell(BaseRNNCell):
    """Cells stacked in sequence: each cell's output is the next one's input."""

    def __init__(self, params=None):
        super().__init__(prefix="", params=params)
        self._override_cell_params = params is not None
        self._cells = []

    def add(self, cell):
        """Append ``cell`` to the stack."""
        self._cells.append(cell)
        if self._override_cell_params:
            _check(cell._own_params, "Either specify params for SequentialRNNCell or child "
                                     "cells, not both.")
            cell.params._params.update(self.params._params)
        self.params._params.update(cell.params._params)

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        _check(not self._modified,
               "After applying modifier cells (e.g. ZoneoutCell) the base cell cannot be "
               "called directly. Call the modifier cell instead.")
        return _cells_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        self._counter += 1
        next_states = []
        p = 0
        for cell in self._cells:
            _check(not isinstance(cell, BidirectionalCell),
                   "BidirectionalCell cannot be stepped. Please use unroll")
            n = len(cell.state_info)
            state = states[p:p + n]
            p += n
            inputs, state = cell(inputs, state)
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        num_cells = len(self._cells)
        if begin_state is None:
            begin_state = self.begin_state()
        p = 0
        next_states = []
        for i, cell in enumerate(self._cells):
            n = len(cell.state_info)
            states = begin_state[p:p + n]
            p += n
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=states, layout=layout,
                                         merge_outputs=None if i < num_cells - 1
                                         else merge_outputs)
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """Dropout on the input (``p = dropout``); no states."""

    def __init__(self, dropout, prefix="dropout_", params=None):
        super().__init__(prefix, params)
        _check(isinstance(dropout, (int, float, np.number)) and not isinstance(dropout, bool),
               "dropout probability must be a number")
        self.dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, Symbol):
            return self(inputs, [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout,
                              merge_outputs=merge_outputs)


class ModifierCell(BaseRNNCell):
    """Base class of cells that wrap a base cell and modify it (ZoneoutCell, ResidualCell).
    The base cell must not be used directly afterwards."""

    def __init__(self, base_cell):
        super().__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=_zeros, **kwargs):
        _check(not self._modified,
               "After applying modifier cells (e.g. DropoutCell) the base cell cannot be "
               "called directly. Call the modifier cell instead.")
        self.base_cell._modified = False
        begin = self.base_cell.begin_state(init_sym, **kwargs)
        self.base_cell._modified = True
        return begin

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError


class ZoneoutCell(ModifierCell):
    """Zoneout (Krueger et al. 2016) on a base cell's outputs and states: in training each unit
    keeps its previous value with probability ``zoneout_outputs`` / ``zoneout_states``."""

    def __init__(self, base_cell, zoneout_outputs=0., zoneout_states=0.):
        _check(not isinstance(base_cell, FusedRNNCell),
               "FusedRNNCell doesn't support zoneout. Please unfuse first.")
        _check(not isinstance(base_cell, BidirectionalCell),
               "BidirectionalCell doesn't support zoneout since it doesn't support step. Please "
               "add ZoneoutCell to the cells underneath instead.")
        _check(not isinstance(base_cell, SequentialRNNCell)
               or not getattr(base_cell, "_bidirectional", False),
               "Bidirectional SequentialRNNCell doesn't support zoneout. Please add ZoneoutCell "
               "to the cells underneath instead.")
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.prev_output = None

    def reset(self):
        super().reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        cell, p_outputs, p_states = self.base_cell, self.zoneout_outputs, self.zoneout_states
        next_output, next_states = cell(inputs, states)

        def mask(p, like):
            return symbol.Dropout(symbol.ones_like(like), p=p)

        prev_output = self.prev_output if self.prev_output is not None else _zeros((0, 0))
        output = (symbol.where(mask(p_outputs, next_output), next_output, prev_output)
                  if p_outputs != 0. else next_output)
        states = ([symbol.where(mask(p_states, new_s), new_s, old_s)
                   for new_s, old_s in zip(next_states, states)]
                  if p_states != 0. else next_states)
        self.prev_output = output
        return output, states


class ResidualCell(ModifierCell):
    """Adds the input to the base cell's output (Wu et al. 2016): names
    ``<output name>_plus_residual``."""

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name=f"{output.name}_plus_residual")
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        outputs, states = self.base_cell.unroll(length, inputs=inputs, begin_state=begin_state,
                                                layout=layout, merge_outputs=merge_outputs)
        self.base_cell._modified = True
        merge_outputs = isinstance(outputs, Symbol) if merge_outputs is None else merge_outputs
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if merge_outputs:
            outputs = symbol.elemwise_add(outputs, inputs, name=f"{outputs.name}_plus_residual")
        else:
            outputs = [symbol.elemwise_add(o, i, name=f"{o.name}_plus_residual")
                       for o, i in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(BaseRNNCell):
    """A forward cell over the sequence and a backward cell over the reversed sequence; step
    outputs are concatenated (``<output_prefix>t<i>``, or ``<output_prefix>out`` merged)."""

    def __init__(self, l_cell, r_cell, params=None, output_prefix="bi_"):
        super().__init__("", params=params)
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            _check(l_cell._own_params and r_cell._own_params,
                   "Either specify params for BidirectionalCell or child cells, not both.")
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        raise NotImplementedError("Bidirectional cannot be stepped. Please use unroll")

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        _check(not self._modified,
               "After applying modifier cells (e.g. DropoutCell) the base cell cannot be "
               "called directly. Call the modifier cell instead.")
        return _cells_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        l_cell, r_cell = self._cells
        n_l = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs, begin_state=states[:n_l],
                                            layout=layout, merge_outputs=merge_outputs)
        r_outputs, r_states = r_cell.unroll(length, inputs=list(reversed(inputs)),
                                            begin_state=states[n_l:], layout=layout,
                                            merge_outputs=merge_outputs)
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, Symbol) and isinstance(r_outputs, Symbol)
            if not merge_outputs:
                if isinstance(l_outputs, Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            l_outputs = [l_outputs]
            r_outputs = [symbol.reverse(r_outputs, axis=axis)]
        else:
            r_outputs = list(reversed(r_outputs))
        outputs = [symbol.Concat(l_o, r_o, dim=1 + merge_outputs,
                                 name=(f"{self._output_prefix}out" if merge_outputs
                                       else f"{self._output_prefix}t{i}"))
                   for i, (l_o, r_o) in enumerate(zip(l_outputs, r_outputs))]
        if merge_outputs:
            outputs = outputs[0]
        states = [l_states, r_states]
        return outputs, states
