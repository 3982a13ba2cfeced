"""``mx.metric``: MXNet 1.x's online evaluation metrics (MXNet 1.9.1's ``python/mxnet/metric.py``).

Metrics take lists of label and prediction NDArrays (numpy arrays work too), read them with
``.asnumpy()`` and compute on the host with numpy, as MXNet's metrics do; results equal MXNet's to
float precision (tests/test_metric.py compares against values MXNet 1.9.1 produced).

Each metric keeps a *local* sum and count (``sum_metric`` / ``num_inst``, cleared by
``reset_local``, e.g. by ``Speedometer(auto_reset=True)``) and a *global* pair
(``global_sum_metric`` / ``global_num_inst``, cleared only by ``reset``). ``get()`` reports the
local value and ``get_global()`` the global one. MXNet's quirks are kept on purpose, because logs
and scripts compare against them: ``F1`` / ``MCC`` with ``average='macro'`` average per-update
scores; ``TopKAccuracy`` on 1-D predictions does not update its global sum; ``PearsonCorrelation``
with ``average='micro'`` reports a global value of 0; ``Perplexity`` has no default
``ignore_label``.

Errors: label/prediction shapes that do not fit raise :class:`MetricShapeError` (a ``ValueError``,
as MXNet's ``check_label_shapes`` raises, and an ``AssertionError``, as MXNet's asserts do) naming
the metric and both shapes; ``create`` with an unknown name lists the accepted names.
"""
from __future__ import annotations

import json
import math
import warnings
from collections import OrderedDict

import numpy
import numpy as _np

from mxc.base import MXNetError, ShapeError
from runtime.registry import Registry

__all__ = [
    "F1",
    "MAE",
    "MCC",
    "MSE",
    "PCC",
    "RMSE",
    "Accuracy",
    "Caffe",
    "CompositeEvalMetric",
    "CrossEntropy",
    "CustomMetric",
    "EvalMetric",
    "Loss",
    "MetricError",
    "MetricShapeError",
    "NegativeLogLikelihood",
    "PearsonCorrelation",
    "Perplexity",
    "TopKAccuracy",
    "Torch",
    "alias",
    "check_label_shapes",
    "create",
    "np",
    "register",
]

numeric_types = (float, int, _np.generic)
string_types = (str,)


class MetricError(MXNetError, ValueError, AssertionError):
    """Bad arguments to a metric (MXNet raised ``AssertionError`` or ``ValueError``)."""


class MetricShapeError(ShapeError, MetricError):
    """Labels and predictions whose shapes do not fit the metric."""


def _as_np(x):
    """An NDArray (``.asnumpy()``), numpy array or array-like as a numpy array."""
    if hasattr(x, "asnumpy"):
        return x.asnumpy()
    return _np.asarray(x)


def _py(v):
    """numpy scalars as Python numbers (so ``str(metric)`` reads ``0.25`` under numpy 2, as
    MXNet's did under numpy 1)."""
    return v.item() if isinstance(v, _np.generic) else v


def _is_array(x):
    return hasattr(x, "asnumpy") or isinstance(x, _np.ndarray)


def _shape(x):
    return tuple(getattr(x, "shape", ()))


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """MXNet's helper: raise ``ValueError`` unless ``labels`` and ``preds`` have the same length
    (or, with ``shape=True``, the same shape); with ``wrap=True`` single arrays become lists."""
    if not shape:
        label_shape, pred_shape = len(labels), len(preds)
    else:
        label_shape, pred_shape = labels.shape, preds.shape
    if label_shape != pred_shape:
        raise MetricShapeError(f"Shape of labels {label_shape} does not match shape of "
                               f"predictions {pred_shape}")
    if wrap:
        if _is_array(labels):
            labels = [labels]
        if _is_array(preds):
            preds = [preds]
    return labels, preds


class EvalMetric:
    """Base class of the evaluation metrics.

    Parameters
    ----------
    name : str
        Name shown in logs (``Train-<name>=...``).
    output_names : list of str, optional
        Outputs ``update_dict`` uses (default: all, in order).
    label_names : list of str, optional
        Labels ``update_dict`` uses (default: all, in order).
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"

    def _what(self):
        return f"{self.__class__.__name__} '{self.name}'"

    def _lists(self, labels, preds):
        """``labels`` and ``preds`` as lists of equal length (single arrays are wrapped)."""
        if _is_array(labels):
            labels = [labels]
        if _is_array(preds):
            preds = [preds]
        if len(labels) != len(preds):
            raise MetricShapeError(
                f"{self._what()}: got {len(labels)} label arrays but {len(preds)} prediction "
                f"arrays (label shapes {[_shape(x) for x in labels]}, prediction shapes "
                f"{[_shape(x) for x in preds]})")
        return labels, preds

    def _mismatch(self, label, pred, detail):
        return MetricShapeError(f"{self._what()}: labels of shape {_shape(label)} do not match "
                                f"predictions of shape {_shape(pred)}: {detail}")

    def get_config(self):
        """The arguments that recreate this metric with ``mx.metric.create(**config)``."""
        config = self._kwargs.copy()
        config.update({"metric": self.__class__.__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def update_dict(self, label, pred):
        """Update with dicts of name -> NDArray (``output_names`` / ``label_names`` pick and
        order the entries; default: all, in order)."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Update the statistics with a batch: lists of label and prediction arrays."""
        raise NotImplementedError()

    def reset(self):
        """Clear the local and global statistics."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        """Clear the local statistics (``get``), keeping the global ones (``get_global``)."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self):
        """``(name, value)`` of the local statistics; value is NaN before any update."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, _py(self.sum_metric / self.num_inst))

    def get_global(self):
        """``(name, value)`` of the global statistics."""
        if self._has_global_stats:
            if self.global_num_inst == 0:
                return (self.name, float("nan"))
            return (self.name, _py(self.global_sum_metric / self.global_num_inst))
        return self.get()

    def get_name_value(self):
        """``[(name, value), ...]`` of ``get()``."""
        name, value = self.get()
        if not isinstance(name, list):
            name = [name]
        if not isinstance(value, list):
            value = [value]
        return list(zip(name, value))

    def get_global_name_value(self):
        """``[(name, value), ...]`` of ``get_global()``."""
        if self._has_global_stats:
            name, value = self.get_global()
            if not isinstance(name, list):
                name = [name]
            if not isinstance(value, list):
                value = [value]
            return list(zip(name, value))
        return self.get_name_value()


# --- registry -------------------------------------------------------------------------------------
_REG = Registry(EvalMetric, "metric", MetricError)
_REGISTRY = _REG.classes


def register(klass, name=None):
    """Register a EvalMetric subclass under its lower-cased class name (or ``name``) for
    :func:`create`."""
    return _REG.register(klass, name)


alias = _REG.alias


def _create(*args, **kwargs):
    if args:
        name, args = args[0], args[1:]
    else:
        if "metric" not in kwargs:
            raise MetricError("create: give a metric name, an EvalMetric or a config with a "
                              "'metric' entry")
        name = kwargs.pop("metric")
    if isinstance(name, EvalMetric):
        if args or kwargs:
            raise MetricError("metric is already an instance. Additional arguments are invalid")
        return name
    if isinstance(name, dict):
        return _create(**name)
    if not isinstance(name, str):
        raise MetricError(f"metric must be a name, an EvalMetric, a callable or a list of "
                          f"them; got {type(name).__name__} {name!r}")
    if name.startswith("["):
        if args or kwargs:
            raise MetricError("a JSON metric config takes no further arguments")
        name, kwargs = json.loads(name)
        return _create(name, **kwargs)
    if name.startswith("{"):
        if args or kwargs:
            raise MetricError("a JSON metric config takes no further arguments")
        return _create(**json.loads(name))
    key = name.lower()
    if key not in _REGISTRY:
        raise MetricError(f"metric {name!r} is not registered; accepted names: "
                          f"{', '.join(sorted(_REGISTRY))} (or register a new metric with "
                          "mx.metric.register)")
    return _REGISTRY[key](*args, **kwargs)


def create(metric, *args, **kwargs):
    """A metric from a name (``'acc'``, ``'ce'``, ``'top_k_accuracy'``, ``'mse'`` ...), an
    :class:`EvalMetric` (returned as is), a callable ``feval(label, pred)`` (a
    :class:`CustomMetric`) or a list of these (a :class:`CompositeEvalMetric`). ``args`` and
    ``kwargs`` go to the metric's constructor."""
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create(metric, *args, **kwargs)


# --- composite ------------------------------------------------------------------------------------
@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; ``get()`` returns ``([names], [values])``."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        if metrics is None:
            metrics = []
        self.metrics = [create(i) for i in metrics]

    def add(self, metric):
        """Add a child metric (anything :func:`create` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """Child metric ``index`` (MXNet returns, not raises, a ValueError when out of range)."""
        try:
            return self.metrics[index]
        except IndexError:
            return ValueError(f"Metric index {index} is out of range 0 and {len(self.metrics)}")

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = OrderedDict([i for i in labels.items() if i[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([i for i in preds.items() if i[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, "metrics", []):
            metric.reset()

    def reset_local(self):
        for metric in getattr(self, "metrics", []):
            metric.reset_local()

    def _collect(self, method):
        names, values = [], []
        for metric in self.metrics:
            name, value = getattr(metric, method)()
            if isinstance(name, string_types):
                name = [name]
            if isinstance(value, numeric_types):
                value = [value]
            names.extend(name)
            values.extend(value)
        return (names, values)

    def get(self):
        return self._collect("get")

    def get_global(self):
        return self._collect("get_global")

    def get_config(self):
        config = super().get_config()
        config.update({"metrics": [i.get_config() for i in self.metrics]})
        return config


# --- classification -------------------------------------------------------------------------------
@register
@alias("acc")
class Accuracy(EvalMetric):
    """Fraction of predictions equal to the label. Predictions with the label's shape are class
    indices; otherwise the class is the argmax along ``axis`` (default 1)."""

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            lab = _as_np(label)
            p = _as_np(pred)
            if p.shape != lab.shape:
                if not -p.ndim <= self.axis < max(p.ndim, 1):
                    raise self._mismatch(label, pred, f"axis={self.axis} is out of range for "
                                         "the predictions, and their shape is not the labels'")
                p = _np.argmax(p, axis=self.axis)
            p = p.astype("int32").ravel()
            lab = lab.astype("int32").ravel()
            if p.size != lab.size:
                raise self._mismatch(label, pred, f"{lab.size} labels but {p.size} predicted "
                                     f"classes (argmax over axis {self.axis})")
            num_correct = int((p == lab).sum())
            self.sum_metric += num_correct
            self.global_sum_metric += num_correct
            self.num_inst += len(p)
            self.global_num_inst += len(p)


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the ``top_k`` (> 1) highest predictions; the
    name is ``'top_k_accuracy_<k>'``."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.top_k = top_k
        if not self.top_k > 1:
            raise MetricError("Please use Accuracy if top_k is no more than 1")
        self.name += f"_{self.top_k}"

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            p = _as_np(pred)
            if p.ndim > 2:
                raise self._mismatch(label, pred, "Predictions should be no more than 2 dims")
            width = p.shape[-1] if p.ndim else 0
            if width < self.top_k:
                raise self._mismatch(label, pred, f"top_k={self.top_k} is more than the "
                                     f"{width} entries per prediction")
            pl = _np.argpartition(p.astype("float32"), -self.top_k)
            lab = _as_np(label).astype("int32")
            if len(lab) != len(pl):
                raise self._mismatch(label, pred, f"{len(lab)} labels but {len(pl)} predictions")
            num_samples = pl.shape[0]
            if pl.ndim == 1:
                # MXNet adds this to the local sum only
                self.sum_metric += int((pl.ravel() == lab.ravel()).sum())
            else:
                num_classes = pl.shape[1]
                top_k = min(num_classes, self.top_k)
                for j in range(top_k):
                    num_correct = int((pl[:, num_classes - 1 - j].ravel() == lab.ravel()).sum())
                    self.sum_metric += num_correct
                    self.global_sum_metric += num_correct
            self.num_inst += num_samples
            self.global_num_inst += num_samples


class _BinaryClassificationMetrics:
    """True/false positive/negative counts, local and global, for F1 and MCC."""

    def __init__(self, owner):
        self._owner = owner
        self.reset_stats()

    def update_binary_stats(self, label, pred):
        p = _as_np(pred)
        lab = _as_np(label).astype("int32")
        if p.ndim != 2:
            raise self._owner._mismatch(label, pred, "predictions must be 2-D (samples, 2 "
                                        "class scores)")
        pred_label = _np.argmax(p, axis=1)
        if len(lab) != len(p):
            raise self._owner._mismatch(label, pred, f"{len(lab)} labels but {len(p)} "
                                        "predictions")
        classes = _np.unique(lab)
        if len(classes) > 2:
            raise MetricError(f"{self._owner._what()} currently only supports binary "
                              f"classification; the labels hold {len(classes)} classes "
                              f"{classes.tolist()}")
        pred_true = (pred_label == 1)
        pred_false = 1 - pred_true
        label_true = (lab == 1)
        label_false = 1 - label_true
        true_pos = int((pred_true * label_true).sum())
        false_pos = int((pred_true * label_false).sum())
        false_neg = int((pred_false * label_true).sum())
        true_neg = int((pred_false * label_false).sum())
        self.true_positives += true_pos
        self.global_true_positives += true_pos
        self.false_positives += false_pos
        self.global_false_positives += false_pos
        self.false_negatives += false_neg
        self.global_false_negatives += false_neg
        self.true_negatives += true_neg
        self.global_true_negatives += true_neg

    @staticmethod
    def _ratio(a, b):
        return float(a) / (a + b) if a + b > 0 else 0.

    @property
    def precision(self):
        return self._ratio(self.true_positives, self.false_positives)

    @property
    def global_precision(self):
        return self._ratio(self.global_true_positives, self.global_false_positives)

    @property
    def recall(self):
        return self._ratio(self.true_positives, self.false_negatives)

    @property
    def global_recall(self):
        return self._ratio(self.global_true_positives, self.global_false_negatives)

    @staticmethod
    def _f(p, r):
        return 2 * p * r / (p + r) if p + r > 0 else 0.

    @property
    def fscore(self):
        return self._f(self.precision, self.recall)

    @property
    def global_fscore(self):
        return self._f(self.global_precision, self.global_recall)

    def matthewscc(self, use_global=False):
        """Matthews correlation coefficient (zero factors of the denominator count as 1)."""
        if use_global:
            if not self.global_total_examples:
                return 0.
            tp, fp = float(self.global_true_positives), float(self.global_false_positives)
            fn, tn = float(self.global_false_negatives), float(self.global_true_negatives)
        else:
            if not self.total_examples:
                return 0.
            tp, fp = float(self.true_positives), float(self.false_positives)
            fn, tn = float(self.false_negatives), float(self.true_negatives)
        denom = 1.
        for t in (tp + fp, tp + fn, tn + fp, tn + fn):
            if t != 0.:
                denom *= t
        return ((tp * tn) - (fp * fn)) / math.sqrt(denom)

    @property
    def total_examples(self):
        return self.false_negatives + self.false_positives + self.true_negatives + \
            self.true_positives

    @property
    def global_total_examples(self):
        return self.global_false_negatives + self.global_false_positives + \
            self.global_true_negatives + self.global_true_positives

    def local_reset_stats(self):
        self.false_positives = 0
        self.false_negatives = 0
        self.true_positives = 0
        self.true_negatives = 0

    def reset_stats(self):
        self.local_reset_stats()
        self.global_false_positives = 0
        self.global_false_negatives = 0
        self.global_true_positives = 0
        self.global_true_negatives = 0


@register
class F1(EvalMetric):
    """F1 score of a binary classification (class 1 is positive). ``average='macro'`` averages
    the F1 of each update; ``'micro'`` computes one F1 from all counts."""

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        self.average = average
        self.metrics = _BinaryClassificationMetrics(self)
        EvalMetric.__init__(self, name=name, output_names=output_names,
                            label_names=label_names, has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred)
        if self.average == "macro":
            self.sum_metric += self.metrics.fscore
            self.global_sum_metric += self.metrics.global_fscore
            self.num_inst += 1
            self.global_num_inst += 1
            self.metrics.reset_stats()
        else:
            self.sum_metric = self.metrics.fscore * self.metrics.total_examples
            self.global_sum_metric = self.metrics.global_fscore * \
                self.metrics.global_total_examples
            self.num_inst = self.metrics.total_examples
            self.global_num_inst = self.metrics.global_total_examples

    def reset(self):
        self.sum_metric = 0.
        self.num_inst = 0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0
        self.metrics.reset_stats()

    def reset_local(self):
        self.sum_metric = 0.
        self.num_inst = 0
        self.metrics.local_reset_stats()


@register
class MCC(EvalMetric):
    """Matthews correlation coefficient of a binary classification; ``average`` as in F1."""

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        self._average = average
        self._metrics = _BinaryClassificationMetrics(self)
        EvalMetric.__init__(self, name=name, output_names=output_names,
                            label_names=label_names, has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            self._metrics.update_binary_stats(label, pred)
        if self._average == "macro":
            self.sum_metric += self._metrics.matthewscc()
            self.global_sum_metric += self._metrics.matthewscc(use_global=True)
            self.num_inst += 1
            self.global_num_inst += 1
            self._metrics.reset_stats()
        else:
            self.sum_metric = self._metrics.matthewscc() * self._metrics.total_examples
            self.global_sum_metric = self._metrics.matthewscc(use_global=True) * \
                self._metrics.global_total_examples
            self.num_inst = self._metrics.total_examples
            self.global_num_inst = self._metrics.global_total_examples

    def reset(self):
        self.sum_metric = 0.
        self.num_inst = 0.
        self.global_sum_metric = 0.
        self.global_num_inst = 0.
        self._metrics.reset_stats()

    def reset_local(self):
        self.sum_metric = 0.
        self.num_inst = 0.
        self._metrics.local_reset_stats()


@register
class Perplexity(EvalMetric):
    """``exp(mean(-log p(label)))`` over the predicted probabilities of the labels.

    ``ignore_label`` (required, as in MXNet; ``None`` keeps every entry) entries are left out;
    ``axis`` (default -1) is the class axis of the predictions. Computed in the predictions'
    dtype (float32), as MXNet's NDArray arithmetic does; labels out of range are clipped.
    """

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        loss = 0.
        num = 0
        for label, pred in zip(labels, preds):
            lab = _as_np(label)
            p = _as_np(pred)
            if p.ndim == 0 or lab.size * p.shape[-1] != p.size:
                raise self._mismatch(label, pred, "shape mismatch: expected label.size == "
                                     "pred.size / pred.shape[-1]")
            lab = lab.reshape((lab.size,))
            p2 = _np.moveaxis(p, self.axis, -1)
            ncls = p2.shape[-1]
            p2 = p2.reshape(-1, ncls)
            if p2.shape[0] != lab.size:
                raise self._mismatch(label, pred, f"{lab.size} labels but "
                                     f"{p2.shape[0]} distributions along axis {self.axis}")
            idx = _np.clip(lab.astype("int32"), 0, ncls - 1)        # pick(mode='clip')
            picked = p2[_np.arange(lab.size), idx]
            dt = picked.dtype.type
            if self.ignore_label is not None:
                ignore = (lab == self.ignore_label).astype(picked.dtype)
                num -= ignore.sum()
                picked = picked * (dt(1) - ignore) + ignore
            loss -= float(_np.log(_np.maximum(dt(1e-10), picked)).sum())
            num += picked.size
        num = float(num) if isinstance(num, _np.generic) else num
        self.sum_metric += loss
        self.global_sum_metric += loss
        self.num_inst += num
        self.global_num_inst += num

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self):
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


# --- regression -----------------------------------------------------------------------------------
class _Regression(EvalMetric):
    """MAE / MSE / RMSE: one value per label array (1-D arrays read as columns)."""

    def __init__(self, name, output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _value(self, diff):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            lab = _as_np(label)
            p = _as_np(pred)
            if lab.ndim == 1:
                lab = lab.reshape(lab.shape[0], 1)
            if p.ndim == 1:
                p = p.reshape(p.shape[0], 1)
            try:
                diff = lab - p
            except ValueError:
                raise self._mismatch(label, pred, "they do not broadcast together") from None
            value = float(self._value(diff))
            self.sum_metric += value
            self.global_sum_metric += value
            self.num_inst += 1
            self.global_num_inst += 1


@register
class MAE(_Regression):
    """Mean absolute error, averaged over updates (each label array counts once)."""

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    def _value(self, diff):
        return _np.abs(diff).mean()


@register
class MSE(_Regression):
    """Mean squared error, averaged over updates (each label array counts once)."""

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    def _value(self, diff):
        return (diff ** 2.0).mean()


@register
class RMSE(_Regression):
    """Root mean squared error of each update, averaged over updates."""

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    def _value(self, diff):
        return _np.sqrt((diff ** 2.0).mean())


class _LogLoss(EvalMetric):
    def __init__(self, eps, name, output_names, label_names):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            lab = _as_np(label).ravel()
            p = _as_np(pred)
            if p.ndim != 2 or lab.shape[0] != p.shape[0]:
                raise self._mismatch(label, pred, f"expected predictions of shape "
                                     f"({lab.shape[0]}, num_classes), one row per label")
            idx = _np.int64(lab)
            if idx.size and (idx.min() < -p.shape[1] or idx.max() >= p.shape[1]):
                raise self._mismatch(label, pred, f"labels must be class indices below "
                                     f"{p.shape[1]}; got labels from {idx.min()} to "
                                     f"{idx.max()}")
            prob = p[_np.arange(lab.shape[0], dtype=_np.int64), idx]
            value = float((-_np.log(prob + self.eps)).sum())
            self.sum_metric += value
            self.global_sum_metric += value
            self.num_inst += lab.shape[0]
            self.global_num_inst += lab.shape[0]


@register
@alias("ce")
class CrossEntropy(_LogLoss):
    """Mean ``-log(p[label] + eps)`` over samples."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("nll_loss")
class NegativeLogLikelihood(_LogLoss):
    """Mean ``-log(p[label] + eps)`` over samples (named ``'nll-loss'``)."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of predictions and labels (flattened). ``average='macro'`` averages
    the correlation of each array; ``'micro'`` accumulates one correlation over all (and, as in
    MXNet, its ``get_global`` reports 0)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        if self.average == "micro":
            self.reset_micro()

    def reset_micro(self):
        self._sse_p = 0
        self._mean_p = 0
        self._sse_l = 0
        self._mean_l = 0
        self._pred_nums = 0
        self._label_nums = 0
        self._conv = 0

    def reset(self):
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0
        if self.average == "micro":
            self.reset_micro()

    @staticmethod
    def update_variance(new_values, *aggregate):
        """Welford's online update of ``(count, mean, M2)`` with ``new_values``."""
        count, mean, m_2 = aggregate
        count += len(new_values)
        delta = new_values - mean
        mean += numpy.sum(delta / count)
        delta_2 = new_values - mean
        m_2 += numpy.sum(delta * delta_2)
        return count, mean, m_2

    def update_cov(self, label, pred):
        self._conv = self._conv + numpy.sum((label - self._mean_l) * (pred - self._mean_p))

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            if _shape(label) != _shape(pred):
                raise self._mismatch(label, pred, "they must have the same shape")
            lab = _as_np(label).ravel().astype(numpy.float64)
            p = _as_np(pred).ravel().astype(numpy.float64)
            if self.average == "macro":
                pearson_corr = float(numpy.corrcoef(p, lab)[0, 1])
                self.sum_metric += pearson_corr
                self.global_sum_metric += pearson_corr
                self.num_inst += 1
                self.global_num_inst += 1
            else:
                self.global_num_inst += 1
                self.num_inst += 1
                self._label_nums, self._mean_l, self._sse_l = \
                    self.update_variance(lab, self._label_nums, self._mean_l, self._sse_l)
                self.update_cov(lab, p)
                self._pred_nums, self._mean_p, self._sse_p = \
                    self.update_variance(p, self._pred_nums, self._mean_p, self._sse_p)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, self.sum_metric / self.num_inst)
        n = self._label_nums
        pearsonr = self._conv / ((n - 1) * numpy.sqrt(self._sse_p / (n - 1))
                                 * numpy.sqrt(self._sse_l / (n - 1)))
        return (self.name, float(pearsonr))


@register
class PCC(EvalMetric):
    """Multiclass Matthews correlation (Pearson correlation of the confusion matrix)."""

    def __init__(self, name="pcc", output_names=None, label_names=None, has_global_stats=True):
        self.k = 2
        super().__init__(name=name, output_names=output_names, label_names=label_names,
                         has_global_stats=has_global_stats)

    def _grow(self, inc):
        self.lcm = numpy.pad(self.lcm, ((0, inc), (0, inc)), "constant", constant_values=(0))
        self.gcm = numpy.pad(self.gcm, ((0, inc), (0, inc)), "constant", constant_values=(0))
        self.k += inc

    @staticmethod
    def _calc_mcc(cmat):
        n = cmat.sum()
        x = cmat.sum(axis=1)
        y = cmat.sum(axis=0)
        cov_xx = numpy.sum(x * (n - x))
        cov_yy = numpy.sum(y * (n - y))
        if cov_xx == 0 or cov_yy == 0:
            return float("nan")
        i = cmat.diagonal()
        cov_xy = numpy.sum(i * n - x * y)
        return float(cov_xy / (cov_xx * cov_yy) ** 0.5)

    def update(self, labels, preds):
        labels, preds = self._lists(labels, preds)
        for label, pred in zip(labels, preds):
            lab = _as_np(label).astype("int32")
            p = _as_np(pred)
            if p.shape != lab.shape:
                p = p.argmax(axis=1)
            else:
                p = p.astype("int32")
            if p.shape != lab.shape and p.size != lab.size:
                raise self._mismatch(label, pred, f"{lab.size} labels but {p.size} predicted "
                                     "classes")
            n = max(p.max(), lab.max())
            if n >= self.k:
                self._grow(int(n) + 1 - self.k)
            bcm = numpy.zeros((self.k, self.k))
            if p.ndim == 1 and lab.ndim == 1:
                numpy.add.at(bcm, (p, lab), 1)
            else:
                for i, j in zip(p, lab):
                    bcm[i, j] += 1
            self.lcm += bcm
            self.gcm += bcm
        self.num_inst += 1
        self.global_num_inst += 1

    @property
    def sum_metric(self):
        return self._calc_mcc(self.lcm) * self.num_inst

    @property
    def global_sum_metric(self):
        return self._calc_mcc(self.gcm) * self.global_num_inst

    def reset(self):
        self.global_num_inst = 0.
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        self.num_inst = 0.
        self.lcm = numpy.zeros((self.k, self.k))


@register
class Loss(EvalMetric):
    """Mean of the outputs themselves (for ``MakeLoss`` heads); labels are ignored."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds):
        if _is_array(preds):
            preds = [preds]
        for pred in preds:
            p = _as_np(pred)
            loss = float(p.sum())
            self.sum_metric += loss
            self.global_sum_metric += loss
            self.num_inst += p.size
            self.global_num_inst += p.size


@register
class Torch(Loss):
    """Dummy metric for torch criterions (a :class:`Loss` named ``'torch'``)."""

    def __init__(self, name="torch", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """Dummy metric for caffe criterions (a :class:`Loss` named ``'caffe'``)."""

    def __init__(self, name="caffe", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred)`` on numpy arrays, returning a value (one instance) or
    ``(sum_metric, num_inst)``. Named after ``feval`` (``'custom(<lambda>)'`` for lambdas).
    ``allow_extra_outputs=True`` lets predictions outnumber labels (RNN states)."""

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if name.find("<") != -1:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = self._lists(labels, preds)
        else:
            labels = [labels] if _is_array(labels) else labels
            preds = [preds] if _is_array(preds) else preds
        for pred, label in zip(preds, labels):
            reval = self._feval(_as_np(label), _as_np(pred))
            if isinstance(reval, tuple):
                (sum_metric, num_inst) = reval
                self.sum_metric += sum_metric
                self.global_sum_metric += sum_metric
                self.num_inst += num_inst
                self.global_num_inst += num_inst
            else:
                self.sum_metric += reval
                self.global_sum_metric += reval
                self.num_inst += 1
                self.global_num_inst += 1

    def get_config(self):
        raise NotImplementedError("CustomMetric cannot be serialized")


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """A :class:`CustomMetric` from ``numpy_feval(label, pred)`` on numpy arrays."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
