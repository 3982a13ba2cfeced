"""Data parallelism: one executor per context, each fed a slice of every batch.

:class:`DataParallelExecutorGroup` is MXNet 1.9.1's class of the same name. A batch is cut
along its batch axis (the ``N`` of each DataDesc's layout) into one slice per context, sized by
``workload`` (``_split_input_slice``); every context runs the compiled forward/backward plan of
its own executor. Parameters, gradients and auxiliary states live in each executor; the
module keeps them equal across devices by summing gradients (through the kvstore, or locally)
before the update, exactly as MXNet does.

Sharing (what keeps memory flat):

- ``shared_group`` (bucketing): a bucket's executors reuse the default bucket's parameter,
  gradient and auxiliary arrays, and data/label arrays of the same shape, so every bucket trains
  the same storage.
- ``reshape`` (a batch of a new shape): the new executors share parameters, gradients and aux
  states with the first ones, and are cached by shape, so alternating shapes (a short last
  batch) binds each shape once. Compiled code comes from the executor's process-wide cache.
"""
from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np
import torch

from mxc.base import MXNetError, ShapeError
from mxc.ndarray import NDArray
from mxc.ndarray import zeros as nd_zeros

__all__ = ["DataParallelExecutorGroup"]


def _desc(x):
    from runtime.io import DataDesc
    return x if isinstance(x, DataDesc) else DataDesc(*x)


def _fmt_shape(shape, dt) -> str:
    return f"{tuple(shape)} {np.dtype(dt).name}"


def _fmt(arr) -> str:
    return _fmt_shape(arr.shape, arr.dtype)


def _split_input_slice(batch_size, work_load_list):
    """Slices of ``range(batch_size)``, one per device, proportional to ``work_load_list``
    (MXNet's rounding: the last device takes what rounding left)."""
    total = sum(work_load_list)
    nums = [round(w * batch_size / total) for w in work_load_list]
    if sum(nums) < batch_size:
        nums[-1] += batch_size - sum(nums)
    slices = []
    end = 0
    for n in nums:
        begin = int(min(end, batch_size))
        end = int(min(begin + n, batch_size))
        if begin >= end:
            raise ValueError("Too many slices. Some splits are empty.")
        slices.append(slice(begin, end))
    return slices


def _as_nd(x, what):
    if isinstance(x, NDArray):
        return x
    if isinstance(x, (np.ndarray, list, tuple, np.generic, int, float)):
        from mxc.ndarray import array
        return array(np.asarray(x))
    raise TypeError(f"{what} must be an NDArray or a numpy array; got {type(x).__name__}")


def _copy_slice(src: NDArray, dst: NDArray, axis: int, slc: slice, name: str) -> None:
    """``dst[...] = src`` cut to ``slc`` along ``axis`` (data movement, cast to dst's dtype)."""
    t = src.torch_tensor()
    if axis >= 0 and (slc.start != 0 or t.shape[axis] != slc.stop):
        t = t.narrow(axis, slc.start, slc.stop - slc.start)
    if tuple(t.shape) != tuple(dst.shape):
        raise ShapeError(f"{name}: the batch gives shape {tuple(src.shape)}, whose slice "
                         f"{tuple(t.shape)} does not fit the bound array {tuple(dst.shape)}")
    d = dst.torch_tensor()
    if t.device != d.device:
        t = t.to(d.device)
    d.copy_(t)


def _load_general(data, targets, major_axis, names):
    """Copy each source array (sliced per device) into its targets."""
    for d_src, d_targets, axis, name in zip(data, targets, major_axis, names):
        if isinstance(d_targets, NDArray):
            _copy_slice(_as_nd(d_src, name), d_targets, -1, slice(None), name)
        elif isinstance(d_src, (list, tuple)):
            for src, dst in zip(d_src, d_targets):
                _copy_slice(_as_nd(src, name), dst, -1, slice(None), name)
        else:
            src = _as_nd(d_src, name)
            for slc, dst in d_targets:
                _copy_slice(src, dst, axis, slc, name)


def _merge_multi_context(outputs, major_axis):
    """One array per output: the devices' pieces concatenated along the batch axis."""
    rets = []
    for tensors, axis in zip(outputs, major_axis):
        if axis >= 0 and len(tensors) > 1:
            ctx = tensors[0].context
            dev = tensors[0].torch_tensor().device
            rets.append(NDArray(torch.cat([t.torch_tensor().to(dev) for t in tensors], dim=axis),
                                ctx))
        else:
            rets.append(tensors[0])
    return rets


def _prepare_group2ctxs(group2ctxs, ctx_len):
    """One ``group2ctx`` dict (or None) per device from MXNet's accepted forms."""
    from mxc.context import Context
    if group2ctxs is None:
        return [None] * ctx_len
    if isinstance(group2ctxs, list):
        if len(group2ctxs) != ctx_len:
            raise MXNetError(f"length of group2ctxs should be {ctx_len}")
        return group2ctxs
    if isinstance(group2ctxs, dict):
        ret = [{} for _ in range(ctx_len)]
        for k, v in group2ctxs.items():
            if isinstance(v, Context):
                ctxs = [v] * ctx_len
            elif len(v) == 1:
                ctxs = list(v) * ctx_len
            else:
                if len(v) != ctx_len:
                    raise MXNetError(f"length of group2ctxs[{k}] should be {ctx_len} or 1")
                ctxs = list(v)
            for i in range(ctx_len):
                ret[i][k] = ctxs[i]
        return ret
    raise MXNetError("group2ctxs should be list of dict of str to context, or dict of str to "
                     "context or list of context")


class DataParallelExecutorGroup:
    """Executors of one symbol on several devices, each running a slice of the batch.

    Parameters are MXNet's: ``symbol``, ``contexts``, ``workload`` (relative batch share per
    context), ``data_shapes`` / ``label_shapes`` (DataDescs or ``(name, shape)``),
    ``param_names``, ``for_training``, ``inputs_need_grad``, ``shared_group`` (bucketing),
    ``logger``, ``fixed_param_names`` (no gradient), ``grad_req`` (str, list or dict),
    ``state_names`` and ``group2ctxs``.
    """

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None, group2ctxs=None):
        self.param_names = param_names
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.symbol = symbol
        self.contexts = contexts
        self.workload = workload
        self.group2ctxs = _prepare_group2ctxs(group2ctxs, len(contexts))
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.logger = logger
        self._total_exec_bytes = 0
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        if not for_training:
            grad_req = "null"
        data_shapes = [_desc(x) for x in data_shapes]
        if label_shapes is not None:
            label_shapes = [_desc(x) for x in label_shapes]
        data_names = [x.name for x in data_shapes]
        if isinstance(grad_req, str):
            self.grad_req = {}
            for k in self.arg_names:
                if k in self.param_names:
                    self.grad_req[k] = "null" if k in self.fixed_param_names else grad_req
                elif k in data_names:
                    self.grad_req[k] = grad_req if self.inputs_need_grad else "null"
                else:
                    self.grad_req[k] = "null"
        elif isinstance(grad_req, (list, tuple)):
            if len(grad_req) != len(self.arg_names):
                raise MXNetError(f"grad_req has {len(grad_req)} entries for the "
                                 f"{len(self.arg_names)} arguments {self.arg_names}")
            self.grad_req = dict(zip(self.arg_names, grad_req))
        elif isinstance(grad_req, dict):
            self.grad_req = {}
            for k in self.arg_names:
                if k in self.param_names:
                    self.grad_req[k] = "null" if k in self.fixed_param_names else "write"
                elif k in data_names:
                    self.grad_req[k] = "write" if self.inputs_need_grad else "null"
                else:
                    self.grad_req[k] = "null"
            self.grad_req.update(grad_req)
        else:
            raise ValueError(  # noqa: TRY004 (MXNet's exception type)
                "grad_req must be one of str, list, tuple, or dict.")

        if shared_group is not None:
            self.shared_data_arrays = shared_group.shared_data_arrays
        else:
            self.shared_data_arrays = [{} for _ in contexts]

        self.batch_size = None
        self.slices = None
        self.execs = []
        self._default_execs = None
        self._reshape_cache = {}
        self.data_arrays = None
        self.label_arrays = None
        self.param_arrays = None
        self.state_arrays = None
        self.grad_arrays = None
        self.aux_arrays = None
        self.input_grad_arrays = None
        self.data_shapes = None
        self.label_shapes = None
        self.data_names = None
        self.label_names = None
        self.data_layouts = None
        self.label_layouts = None
        self.output_names = self.symbol.list_outputs()
        self.num_outputs = len(self.output_names)
        from runtime.io import DataDesc
        self.output_layouts = [DataDesc.get_batch_axis(self.symbol[i].attr("__layout__"))
                               for i in range(self.num_outputs)]
        self.bind_exec(data_shapes, label_shapes, shared_group)

    # -- binding ------------------------------------------------------------------------------
    def decide_slices(self, data_shapes):
        """Set ``batch_size`` and ``slices`` from the shapes; returns each input's batch
        axis."""
        if not data_shapes:
            raise MXNetError("bind: no data shapes given")
        from runtime.io import DataDesc
        major_axis = [DataDesc.get_batch_axis(x.layout) for x in data_shapes]
        for (name, shape), axis in zip(data_shapes, major_axis):
            if axis == -1:
                continue
            if axis >= len(shape):
                raise ShapeError(f"bind: {name} has shape {tuple(shape)}, which has no batch "
                                 f"axis {axis} (layout of {name})")
            batch_size = shape[axis]
            if self.batch_size is not None:
                if batch_size != self.batch_size:
                    raise ShapeError(f"all data must have the same batch size: batch_size = "
                                     f"{self.batch_size}, but {name} has shape {tuple(shape)}")
            else:
                self.batch_size = batch_size
                self.slices = _split_input_slice(self.batch_size, self.workload)
        return major_axis

    def _collect_arrays(self):
        """The per-device array lists the module reads (MXNet's layout)."""
        if self.slices:
            self.data_arrays = [[(self.slices[i], e.arg_dict[name])
                                 for i, e in enumerate(self.execs)]
                                for name, _ in self.data_shapes]
        else:
            self.data_arrays = [[(slice(i, i + 1), e.arg_dict[name])
                                 for i, e in enumerate(self.execs)]
                                for name, _ in self.data_shapes]
        self.state_arrays = [[e.arg_dict[name] for e in self.execs] for name in self.state_names]
        if self.label_shapes is not None:
            self.label_arrays = [[(self.slices[i], e.arg_dict[name])
                                  for i, e in enumerate(self.execs)]
                                 for name, _ in self.label_shapes]
        else:
            self.label_arrays = None
        self.param_arrays = [[e.arg_arrays[i] for e in self.execs]
                             for i, name in enumerate(self.arg_names) if name in self.param_names]
        if self.for_training:
            self.grad_arrays = [[e.grad_arrays[i] for e in self.execs]
                                for i, name in enumerate(self.arg_names)
                                if name in self.param_names]
        else:
            self.grad_arrays = None
        data_names = [x[0] for x in self.data_shapes]
        if self.inputs_need_grad:
            self.input_grad_arrays = [[e.grad_arrays[self.arg_names.index(name)]
                                       for e in self.execs]
                                      for name in data_names if name in self.arg_names]
        else:
            self.input_grad_arrays = None
        self.aux_arrays = [[e.aux_arrays[i] for e in self.execs]
                           for i in range(len(self.aux_names))]

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        """Bind one executor per context (or, with ``reshape``, switch to executors for new
        shapes that share the parameters)."""
        if not (reshape or not self.execs):
            raise MXNetError("bind_exec: executors already bound; use reshape")
        self.batch_size = None
        self.data_layouts = self.decide_slices(data_shapes)
        if label_shapes is not None:
            self.label_layouts = self.decide_slices(label_shapes)
        per_ctx = []
        for i in range(len(self.contexts)):
            d = self._sliced_shape(data_shapes, i, self.data_layouts)
            lb = (self._sliced_shape(label_shapes, i, self.label_layouts)
                  if label_shapes is not None else [])
            per_ctx.append((d, lb))
        if reshape:
            key = tuple((x.name, tuple(x.shape)) for d, lb in per_ctx for x in d + lb)
            execs = self._reshape_cache.get(key)
            if execs is None:
                execs = [self._bind_ith_exec(i, d, lb, None, base=self._default_execs[i])
                         for i, (d, lb) in enumerate(per_ctx)]
                self._reshape_cache[key] = execs
            # a monitor callback set on an executor follows it to its other shapes (MXNet's
            # Executor.reshape passes it on)
            for old, new in zip(self.execs, execs):
                if old._monitor is not None and new._monitor is None:
                    new._set_monitor(old._monitor, old._monitor_all, old._monitor_accept)
            self.execs = list(execs)
        else:
            for i, (d, lb) in enumerate(per_ctx):
                self.execs.append(self._bind_ith_exec(i, d, lb, shared_group))
            key = tuple((x.name, tuple(x.shape)) for d, lb in per_ctx for x in d + lb)
            self._reshape_cache[key] = list(self.execs)
        mon = getattr(self, "_monitor", None)
        if mon is not None:
            for exe in self.execs:
                if exe._monitor is None:
                    mon._attach(exe)
        self.data_shapes = data_shapes
        self.label_shapes = label_shapes
        self.data_names = [i.name for i in self.data_shapes]
        if label_shapes is not None:
            self.label_names = [i.name for i in self.label_shapes]
        self._collect_arrays()

    def reshape(self, data_shapes, label_shapes):
        """Switch to executors for new input shapes (cached; parameters shared)."""
        if data_shapes == self.data_shapes and label_shapes == self.label_shapes:
            return
        if self._default_execs is None:
            self._default_execs = list(self.execs)
        self.bind_exec(data_shapes, label_shapes, reshape=True)

    def _bind_ith_exec(self, i, data_shapes, label_shapes, shared_group, base=None):
        """Allocate (or share) the arrays of the i-th executor and bind it."""
        from runtime.executor import bind
        shared_exec = base if base is not None else (
            None if shared_group is None else shared_group.execs[i])
        ctx = self.contexts[i]
        shared_data = self.shared_data_arrays[i]
        # with group2ctx, a variable's arrays live on its ctx_group's context (MXNet)
        from runtime.placement import norm_group2ctx, var_context
        g2c = norm_group2ctx(self.group2ctxs[i], "bind")
        where = {v.name: var_context(v, ctx, g2c, "bind")
                 for v in self.symbol._nodes() if v.is_var}
        input_shapes = {x.name: tuple(x.shape) for x in data_shapes}
        input_types = {x.name: x.dtype for x in data_shapes}
        if label_shapes is not None:
            input_shapes.update({x.name: tuple(x.shape) for x in label_shapes})
            input_types.update({x.name: x.dtype for x in label_shapes})
        attr_dict = self.symbol.attr_dict()
        for name in list(input_types):
            dt = attr_dict.get(name, {}).get("__dtype__")
            if dt not in (None, "-1"):
                from mxc.ir.types import DType
                input_types[name] = DType.from_flag(int(dt)).numpy
        # both from one import of the symbol (MXNet asks infer_shape and infer_type)
        from mxc.symbol.convert import infer_partial
        (arg_shapes, out_shapes, aux_shapes), (arg_types, out_types, aux_types) = \
            infer_partial(self.symbol, input_shapes, input_types)
        names = self.arg_names + self.aux_names
        unknown = [n for n, s in zip(names, list(arg_shapes) + list(aux_shapes))
                   if not s or 0 in s]
        if unknown:
            raise ShapeError(f"bind: cannot infer the shapes of {unknown} from the input "
                             f"shapes {input_shapes}; give every input the symbol reads "
                             f"(data_names/label_names/state_names)")
        # partial: types left open are float32 (MXNet's default), without a warning
        arg_types_given, aux_types_given = list(arg_types), list(aux_types)
        arg_types = [t or np.float32 for t in arg_types]
        aux_types = [t or np.float32 for t in aux_types]
        inputs = set(input_shapes) | set(self.state_names)
        from runtime.executor import check_sizes
        check_sizes(self.symbol, "bind", ctx,
                    list(zip(self.arg_names, arg_shapes, arg_types))
                    + list(zip(self.aux_names, aux_shapes, aux_types)))

        def reuse(src, shape, dt):
            return (src is not None and tuple(src.shape) == tuple(shape) and
                    np.dtype(src.dtype) == np.dtype(dt))

        def shared(table, kind, name, shape, dt):
            """The shared executor's array for a parameter/aux state, which must keep its
            shape and dtype: a batch (or bucket) that changes a parameter's shape would
            otherwise train a throwaway array (MXNet refuses it too)."""
            src = None if shared_exec is None else getattr(shared_exec, table).get(name)
            if src is None:
                return None
            if not reuse(src, shape, dt):
                raise ShapeError(
                    f"bind: {kind} '{name}' would change from {_fmt(src)} to "
                    f"{_fmt_shape(shape, dt)} for the inputs {input_shapes}; parameters are "
                    f"shared between batches and buckets and must keep their shape (check "
                    f"the batch's shapes or the bucket's symbol)")
            return src

        args, grads, auxs = {}, {}, {}
        nbytes = 0
        for name, shape, dt in zip(self.arg_names, arg_shapes, arg_types):
            shape = tuple(shape)
            arr = None
            if name in inputs:
                cand = shared_data.get(name)
                if base is not None and name in base.arg_dict and reuse(base.arg_dict[name],
                                                                        shape, dt):
                    cand = base.arg_dict[name]
                if reuse(cand, shape, dt):
                    arr = cand
            else:
                arr = shared("arg_dict", "argument", name, shape, dt)
            if arr is None:
                arr = nd_zeros(shape, ctx=where[name], dtype=dt)
                nbytes += _nbytes(arr)
                if name in inputs:
                    shared_data[name] = arr
            args[name] = arr
            if self.grad_req.get(name, "null") != "null":
                g = None
                if shared_exec is not None and name not in inputs:
                    cand = shared_exec.grad_dict.get(name)
                    if reuse(cand, shape, dt):
                        g = cand
                if g is None:
                    g = nd_zeros(shape, ctx=where[name], dtype=dt)
                    nbytes += _nbytes(g)
                grads[name] = g
        for name, shape, dt in zip(self.aux_names, aux_shapes, aux_types):
            shape = tuple(shape)
            arr = None
            arr = shared("aux_dict", "auxiliary state", name, shape, dt)
            if arr is None:
                arr = nd_zeros(shape, ctx=where[name], dtype=dt)
                nbytes += _nbytes(arr)
            auxs[name] = arr
        req = {n: (self.grad_req.get(n, "null") if n in grads else "null")
               for n in self.arg_names}
        # the outputs' shapes and dtypes came with the inputs' above when every one is known
        # and no type was left to the float32 default (the executor would infer them again)
        known = (all(s and 0 not in s and -1 not in s for s in out_shapes) and all(out_types)
                 and all(arg_types_given) and all(aux_types_given))
        exe = bind(self.symbol, ctx, args, args_grad=grads or None, grad_req=req,
                   aux_states=auxs, group2ctx=self.group2ctxs[i],
                   _outputs=(out_shapes, out_types) if known else None)
        self._total_exec_bytes += nbytes
        return exe

    def _sliced_shape(self, shapes, i, major_axis):
        """The DataDescs of the i-th device (batch axis cut to its slice)."""
        from runtime.io import DataDesc
        sliced = []
        for desc, axis in zip(shapes, major_axis):
            shape = list(desc.shape)
            if axis >= 0:
                shape[axis] = self.slices[i].stop - self.slices[i].start
            sliced.append(DataDesc(desc.name, tuple(shape), desc.dtype, desc.layout))
        return sliced

    # -- parameters ---------------------------------------------------------------------------
    def set_params(self, arg_params, aux_params, allow_extra=False):
        """Copy parameters into every executor."""
        for exe in self.execs:
            exe.copy_params_from(arg_params, aux_params, allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Copy the devices' parameters into ``arg_params`` / ``aux_params`` in place (the
        mean over devices, as MXNet computes it)."""
        for name, block in zip(self.param_names, self.param_arrays):
            _mean_into(block, arg_params[name])
        for name, block in zip(self.aux_names, self.aux_arrays):
            _mean_into(block, aux_params[name])

    # -- computation --------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Load the batch (sliced per device) and run forward on every device."""
        _load_data(data_batch, self.data_arrays, self.data_layouts, self.data_names)
        if is_train is None:
            is_train = self.for_training
        if isinstance(data_batch, list):
            if self.label_arrays is not None and data_batch and data_batch[0].label:
                _load_label(data_batch, self.label_arrays, self.label_layouts,
                            self.label_names)
        elif self.label_arrays is not None and data_batch.label:
            _load_label(data_batch, self.label_arrays, self.label_layouts, self.label_names)
        for exe in self.execs:
            exe.forward(is_train=is_train)

    def get_output_shapes(self):
        """``[(name, shape)]`` of the merged outputs."""
        shapes = [out.shape for out in self.execs[0].outputs]
        res = []
        for key, shape, axis in zip(self.output_names, shapes, self.output_layouts):
            shape = list(shape)
            if axis >= 0:
                shape[axis] = self.batch_size
            res.append((key, tuple(shape)))
        return res

    def get_outputs(self, merge_multi_context=True, begin=0, end=None):
        """Outputs ``[begin, end)`` of the last forward: merged over devices, or per device."""
        if end is None:
            end = self.num_outputs
        outputs = [[exe.outputs[i] for exe in self.execs] for i in range(begin, end)]
        if merge_multi_context:
            outputs = _merge_multi_context(outputs, self.output_layouts[begin:end])
        return outputs

    def get_states(self, merge_multi_context=True):
        if merge_multi_context:
            raise MXNetError("merge_multi_context=True is not supported for get_states yet.")
        return self.state_arrays

    def set_states(self, states=None, value=None):
        """Set the state arrays from ``states`` (per state, per device) or to ``value``."""
        if states is not None:
            if value is not None:
                raise MXNetError("Only one of states & value can be specified.")
            _load_general(states, self.state_arrays, (0,) * len(states), self.state_names)
        else:
            if value is None:
                raise MXNetError("At least one of states & value must be specified.")
            for d_dst in self.state_arrays:
                for dst in d_dst:
                    dst[:] = value

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            from mxc.base import StateError
            raise StateError("get_input_grads: bind with inputs_need_grad=True to get input "
                             "gradients")
        if merge_multi_context:
            return _merge_multi_context(self.input_grad_arrays, self.data_layouts)
        return self.input_grad_arrays

    def backward(self, out_grads=None):
        """Run backward on every device (head gradients sliced like the outputs)."""
        if not self.for_training:
            from mxc.base import StateError
            raise StateError("backward: re-bind with for_training=True to run backward")
        if out_grads is None:
            out_grads = []
        elif isinstance(out_grads, NDArray):
            out_grads = [out_grads]
        for i, (exe, islice) in enumerate(zip(self.execs, self.slices)):
            sliced = []
            for grad, axis in zip(out_grads, self.output_layouts):
                grad = _as_nd(grad, "out_grads")
                if axis >= 0 and len(self.execs) > 1:
                    t = grad.torch_tensor().narrow(axis, islice.start, islice.stop - islice.start)
                    sliced.append(NDArray(t.contiguous().clone(), self.contexts[i]))
                elif grad.context != self.contexts[i]:
                    sliced.append(grad.copyto(self.contexts[i]))
                else:
                    sliced.append(grad)
            exe.backward(out_grads=sliced or None)

    def update_metric(self, eval_metric, labels, pre_sliced):
        """Update ``eval_metric`` with every device's outputs and its slice of the labels."""
        for cur, (texec, islice) in enumerate(zip(self.execs, self.slices)):
            if not pre_sliced:
                labels_slice = []
                for label, axis in zip(labels, self.label_layouts or [0] * len(labels)):
                    label = _as_nd(label, "label")
                    if axis == 0:
                        labels_slice.append(label[islice] if len(self.execs) > 1 else label)
                    elif axis > 0:
                        t = label.torch_tensor().narrow(axis, islice.start, islice.stop - islice.start)
                        labels_slice.append(NDArray(t.contiguous().clone(), label.context))
                    else:
                        labels_slice.append(label)
            else:
                labels_slice = labels[cur]
            labels_ = OrderedDict(zip(self.label_names or [], labels_slice))
            preds = OrderedDict(zip(self.output_names, texec.outputs))
            eval_metric.update_dict(labels_, preds)

    def install_monitor(self, mon):
        """Install ``mon`` (a Monitor) on every executor; executors bound later for other
        shapes (``reshape``) get its callback too, as MXNet's reshaped executors do.
        ``mon=None`` removes the monitor: the executors run their unpinned programs again."""
        self._monitor = mon
        if mon is None:
            for execs in [self.execs] + list(self._reshape_cache.values()):
                for exe in execs:
                    exe.set_monitor_callback(None)
            return
        for exe in self.execs:
            mon.install(exe)


def _nbytes(arr: NDArray) -> int:
    """The bytes of ``arr``'s storage."""
    t = arr.torch_tensor()
    return t.numel() * t.element_size()


def _mean_into(block, target: NDArray) -> None:
    """``target = mean(block)`` with MXNet's arithmetic (sum of CPU copies, then divide)."""
    dst = target.torch_tensor()
    if len(block) == 1:
        src = block[0].torch_tensor()
        if src.device != dst.device:
            src = src.to(dst.device)
        dst.copy_(src)
        return
    from mxc.context import Context
    from mxc.ndarray.ops import invoke
    cpu = Context("cpu", 0)
    parts = [w.copyto(cpu) for w in block]
    total = invoke("add_n", parts, {})
    mean = invoke("_div_scalar", [total], {"scalar": float(len(block))})
    dst.copy_(mean.torch_tensor().to(dst.dtype))


def _load_data(batch, targets, major_axis, names):
    if isinstance(batch, list):
        new_batch = [[b.data[i] for b in batch] for i in range(len(targets))]
        new_targets = [[dst for _, dst in d_target] for d_target in targets]
        _load_general(new_batch, new_targets, major_axis, names)
    else:
        data = batch.data
        if data is None or len(data) != len(targets):
            n = 0 if data is None else len(data)
            raise MXNetError(f"forward: the batch has {n} data array(s) but the module reads "
                             f"{len(targets)} ({names}); check data_names and the iterator's "
                             "provide_data")
        _load_general(data, targets, major_axis, names)


def _load_label(batch, targets, major_axis, names):
    if isinstance(batch, list):
        new_batch = [[b.label[i] for b in batch] for i in range(len(targets))]
        new_targets = [[dst for _, dst in d_target] for d_target in targets]
        _load_general(new_batch, new_targets, major_axis, names)
    else:
        if len(batch.label) != len(targets):
            raise MXNetError(f"forward: the batch has {len(batch.label)} label array(s) but "
                             f"the module reads {len(targets)} ({names}); check label_names "
                             "and the iterator's provide_label")
        _load_general(batch.label, targets, major_axis, names)


# names MXNet's mxnet.module.executor_group has
from mxc import context as ctx, ndarray as nd  # noqa: E402,F401
from runtime.io import DataDesc  # noqa: E402,F401
