"""``mx.mon``: watch the values a bound symbol computes (MXNet's ``mxnet.monitor``).

A :class:`Monitor` installed on executors (``Module.install_monitor(mon)``, or
``mon.install(exe)``) collects a statistic of every node output whose MXNet name matches its
pattern (``fc1_output``, ``relu1_output``; training adds the gradients each node gives its inputs,
``fc1_backward_output0``..), and with ``monitor_all`` the inputs of every node too (the variable's
own name, then ``fc1_data``, ``fc1_weight``, ...), then at ``toc`` the arguments and auxiliary
states. ``toc`` returns ``(batch, name, text)`` triples in the order the executor produced them
(sorted by name with ``sort=True``); ``toc_print`` logs them as MXNet does.

In a compiled program most of those values never reach memory: fusion computes them inside
kernels. The executor therefore compiles (or takes from the compile cache) a program with the
monitored values *pinned* (:mod:`mxc.passes.pin`): each is stored by the kernel that computes it,
everything else fuses as without a monitor, and only the values the pattern matches are pinned.
An executor without a monitor runs the unpinned program.

This module also knows how MXNet 1.9.1 names what its executor shows a monitor
(:class:`MonitorNames`): node outputs are ``<node>_<output name>`` (``fc1_output``,
``bn_mean``); a node's inputs are ``<node>_<argument name>`` for operators that name their
inputs and ``<node>_input<i>`` for those that do not (the unary math operators, Activation,
the scalar operators ...; :data:`POSITIONAL_INPUTS`, read off MXNet 1.9.1 by
``tools/make_monitor_golden.py``); a node's gradient node is ``<node>_backward`` with outputs
``output`` (one input) or ``output<i>``.
"""
from __future__ import annotations

import logging
import re
from math import sqrt

from mxc import ndarray
from mxc.base import MXNetError, NDArrayHandle, py_str  # noqa: F401  (MXNet's monitor has it)
from mxc.ndarray import NDArray

__all__ = ["Monitor", "MonitorNames", "Watch", "monitor_pins", "POSITIONAL_INPUTS"]

# Operators whose inputs MXNet 1.9.1's executor shows a monitor as ``<node>_input<i>`` (they do
# not register input names); every other operator's inputs are named by its arguments. Read off
# MXNet by tools/make_monitor_golden.py (tests/data/monitor_golden.json, checked by
# tests/test_monitor.py), by canonical operator name.
POSITIONAL_INPUTS = frozenset({
    'Activation', 'BlockGrad', 'Cast', 'Flatten', 'Reshape', 'SoftmaxActivation', '_copy',
    '_div_scalar', '_equal_scalar', '_greater_equal_scalar', '_greater_scalar', '_hypot_scalar',
    '_lesser_equal_scalar', '_lesser_scalar', '_logical_and_scalar', '_logical_or_scalar',
    '_logical_xor_scalar', '_maximum_scalar', '_minimum_scalar', '_minus_scalar', '_mod_scalar',
    '_mul_scalar', '_not_equal_scalar', '_plus_scalar', '_power_scalar', '_rdiv_scalar',
    '_rminus_scalar', '_rmod_scalar', '_rpower_scalar', 'abs', 'arccos', 'arccosh', 'arcsin',
    'arcsinh', 'arctan', 'arctanh', 'argmax', 'argmax_channel', 'argmin', 'argsort',
    'broadcast_axis', 'broadcast_to', 'cbrt', 'ceil', 'clip', 'cos', 'cosh', 'degrees', 'erf',
    'erfinv', 'exp', 'expand_dims', 'expm1', 'fix', 'floor', 'gamma', 'gammaln', 'log', 'log10',
    'log1p', 'log2', 'logical_not', 'make_loss', 'max', 'mean', 'min', 'nanprod', 'nansum',
    'negative', 'norm', 'ones_like', 'prod', 'radians', 'rcbrt', 'reciprocal', 'relu', 'rint',
    'round', 'rsqrt', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'slice_axis', 'smooth_l1',
    'softsign', 'sort', 'sqrt', 'square', 'sum', 'tan', 'tanh', 'topk', 'transpose', 'trunc',
    'zeros_like',
})


class MonitorNames:
    """What MXNet's executor calls the values of ``symbol`` it shows a monitor callback.

    ``forward`` lists, in execution order, ``(name, source)`` pairs: ``source`` is
    ``("var", variable name)`` for an argument or auxiliary state, or ``("out", node name,
    output index)`` for a node output; with ``monitor_all`` each node's inputs come before its
    outputs. ``backward`` lists ``(name, node name, input index)`` for the gradient each node
    gives each of its arguments, in MXNet's backward order (last node first)."""

    def __init__(self, symbol, monitor_all: bool = False):
        self.forward: list = []
        self.backward: list = []
        nodes = [n for n in symbol._nodes() if not n.is_var]
        for node in nodes:
            p = node.params()
            od = node.opdef
            if monitor_all:
                if od.name in POSITIONAL_INPUTS:
                    slots = [f"input{i}" for i in range(len(node.inputs))]
                else:
                    slots = od.list_inputs(p)
                    slots = slots + [f"input{i}" for i in range(len(slots), len(node.inputs))]
                for (src, idx), slot in zip(node.inputs, slots):
                    if src.is_var:
                        self.forward.append((src.name, ("var", src.name)))
                        self.forward.append((f"{node.name}_{slot}", ("var", src.name)))
                    else:
                        self.forward.append((f"{node.name}_{slot}", ("out", src.name, idx)))
            for i, out in enumerate(node.output_names()):
                self.forward.append((out, ("out", node.name, i)))
        for node in reversed(nodes):
            n_args = min(len(node.opdef.list_arguments(node.params())), len(node.inputs))
            for i in range(n_args):
                name = (f"{node.name}_backward_output" if n_args == 1
                        else f"{node.name}_backward_output{i}")
                self.backward.append((name, node.name, i))


class Watch:
    """What a monitor callback sees on an executor of ``symbol``: :class:`MonitorNames`
    narrowed to the names ``accept`` admits (None: all), and the pins that keep those values
    (:mod:`mxc.passes.pin`). A forward value is pinned when a name for it is watched (its own,
    or with ``monitor_all`` a reader's input name); a gradient when its backward name is."""

    def __init__(self, symbol, monitor_all=False, accept=None):
        from mxc.passes.pin import Pin
        names = MonitorNames(symbol, monitor_all)
        ok = accept if accept is not None else (lambda _: True)
        self.forward = [(n, src) for n, src in names.forward if ok(n)]
        self.backward = [(n, node, i) for n, node, i in names.backward if ok(n)]
        out_name = {}
        for node in symbol._nodes():
            if not node.is_var:
                for i, n in enumerate(node.output_names()):
                    out_name[(node.name, i)] = n
        fwd = {}
        for _, src in self.forward:
            if src[0] == "out":
                key = (src[1], src[2])
                fwd.setdefault(key, Pin(src[1], src[2], "out",
                                        f"monitor {out_name.get(key, src[1])}"))
        self.forward_pins = tuple(sorted(fwd.values()))
        self.backward_pins = tuple(sorted({Pin(node, i, "grad", f"monitor {n}")
                                           for n, node, i in self.backward}))


def monitor_pins(symbol, pattern=".*", monitor_all=False, train=False) -> tuple:
    """The pins a ``Monitor(pattern=..., monitor_all=...)`` installed on an executor of
    ``symbol`` asks for (with ``train``, the gradients' too): what ``mxc dump --monitor``
    compiles with."""
    w = Watch(symbol, monitor_all, re.compile(pattern).match)
    return w.forward_pins + (w.backward_pins if train else ())


class Monitor:
    """Monitor inputs, outputs, weights and gradients (MXNet's ``mx.mon.Monitor``).

    ``interval``: batches between collections; ``stat_func``: NDArray -> NDArray statistic
    (default: ``norm(x) / sqrt(x.size)``, MXNet's); ``pattern``: regular expression the names
    must match (``re.match``); ``sort``: sort results by name; ``monitor_all``: node inputs too.
    """

    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        if stat_func is None:
            def asum_stat(x):
                """norm(x) / sqrt(size(x))."""
                return ndarray.norm(x) / sqrt(x.size)
            stat_func = asum_stat
        if not callable(stat_func):
            raise MXNetError(f"Monitor: stat_func must be callable; got {type(stat_func).__name__}")
        try:
            interval = int(interval)
        except (TypeError, ValueError):
            raise MXNetError(f"Monitor: interval must be an int; got {interval!r}") from None
        if interval < 1:
            raise MXNetError(f"Monitor: interval must be at least 1; got {interval}")
        try:
            self.re_prog = re.compile(pattern)
        except (re.error, TypeError) as e:
            raise MXNetError(f"Monitor: pattern {pattern!r} is not a regular expression: "
                             f"{e}") from None
        self.stat_func = stat_func
        self.interval = interval
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []
        self.sort = sort
        self.monitor_all = monitor_all

        def stat_helper(name, array):
            """The executor's callback: record ``stat_func(array)`` while activated."""
            name = py_str(name)
            if not self.activated or not self.re_prog.match(name):
                return
            self.queue.append((self.step, name, self.stat_func(array)))
        self.stat_helper = stat_helper

    def _attach(self, exe):
        """Set this monitor's callback on ``exe`` (only the names the pattern matches are
        pinned in its program) without listing it among the executors ``toc`` reads."""
        setter = getattr(exe, "_set_monitor", None)
        if setter is not None:
            setter(self.stat_helper, self.monitor_all, self.re_prog.match)
        else:
            exe.set_monitor_callback(self.stat_helper, self.monitor_all)

    def install(self, exe):
        """Install the callback on executor ``exe`` (several executors may share a monitor)."""
        self._attach(exe)
        self.exes.append(exe)

    def tic(self):
        """Start collecting for the current batch (call before forward)."""
        if self.step % self.interval == 0:
            for exe in self.exes:
                for array in list(exe.arg_arrays) + list(exe.aux_arrays):
                    array.wait_to_read()
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """Stop collecting and return ``[(batch, name, text)]``: what the executors reported,
        then every argument and auxiliary state whose name matches."""
        if not self.activated:
            return []
        for exe in self.exes:
            for array in list(exe.arg_arrays) + list(exe.aux_arrays):
                array.wait_to_read()
        for exe in self.exes:
            sym = exe._symbol
            for name, array in zip(sym.list_arguments(), exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
            for name, array in zip(sym.list_auxiliary_states(), exe.aux_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        res = []
        if self.sort:
            self.queue.sort(key=lambda x: x[1])
        for n, k, v_list in self.queue:
            if isinstance(v_list, NDArray):
                v_list = [v_list]
            if not isinstance(v_list, list):
                raise MXNetError(f"Monitor: stat_func returned a {type(v_list).__name__} for "
                                 f"{k!r}; expected an NDArray or a list of NDArrays")
            s = ""
            for v in v_list:
                if not isinstance(v, NDArray):
                    raise MXNetError(f"Monitor: stat_func returned a {type(v).__name__} for "
                                     f"{k!r}; expected an NDArray")
                if v.shape == (1,):
                    s += str(v.asscalar()) + "\t"
                else:
                    s += str(v.asnumpy()) + "\t"
            res.append((n, k, s))
        self.queue = []
        return res

    def toc_print(self):
        """Stop collecting and log the results (``Batch: %7d %30s %s``)."""
        res = self.toc()
        for n, k, v in res:
            logging.info("Batch: {:7d} {:30s} {:s}".format(n, k, v))
