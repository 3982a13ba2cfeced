"""MXNet 1.x's ``mx.rnn`` data helpers: ``encode_sentences`` and ``BucketSentenceIter``
(MXNet 1.9.1's ``python/mxnet/rnn/io.py``), for language models trained with
``BucketingModule``.

``BucketSentenceIter`` groups sentences into buckets by length, pads each with ``invalid_label``
to its bucket's length, and yields batches of one bucket at a time with ``bucket_key`` set to the
bucket's length. The label of step ``t`` is the token of step ``t + 1`` (and ``invalid_label``
for the last step). Each ``reset`` (the constructor runs one) shuffles the order of batches with
Python's ``random.shuffle`` and the sentences inside each bucket with ``np.random.shuffle``, the
same draws MXNet makes, so seeding both RNGs reproduces MXNet's batches exactly.
"""
from __future__ import annotations

import bisect
import random

import numpy as np
import torch

from mxc.ndarray import NDArray
from mxc.ndarray import array as nd_array

from .io import DataBatch, DataDesc, DataIter
from mxc.rnn.io import encode_sentences  # noqa: E402,F401  (one implementation)

__all__ = ["BucketSentenceIter", "encode_sentences"]


class BucketSentenceIter(DataIter):
    """Bucketing iterator for language models: the label at each step is the next token.

    Parameters
    ----------
    sentences : list of list of int
        Encoded sentences.
    batch_size : int
    buckets : list of int, optional
        Bucket lengths. Default: every sentence length that at least ``batch_size`` sentences
        have. Sentences longer than the largest bucket are discarded (a warning is printed).
    invalid_label : int, default -1
        Padding value of data and label.
    data_name, label_name : str, default 'data', 'softmax_label'
    dtype : str, default 'float32'
    layout : {'NT', 'TN'}, default 'NT'
        ``NT`` gives ``(batch_size, length)`` batches; ``TN`` gives ``(length, batch_size)``.
    """

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1,
                 data_name="data", label_name="softmax_label", dtype="float32",
                 layout="NT"):
        super().__init__()
        if layout.find("N") not in (0, 1):
            raise ValueError(f"Invalid layout {layout}: Must by NT (batch major) or TN "
                             "(time major)")
        if not buckets:
            buckets = [i for i, j in enumerate(np.bincount([len(s) for s in sentences]))
                       if j >= batch_size]
        if not buckets:
            raise ValueError(f"BucketSentenceIter: no sentence length occurs at least "
                             f"batch_size={batch_size} times among {len(sentences)} sentences, "
                             "so there are no default buckets; pass buckets=[...]")
        buckets.sort()

        ndiscard = 0
        self.data = [[] for _ in buckets]
        valid_buckets = {i: 0 for i in range(len(buckets))}
        for sent in sentences:
            buck = bisect.bisect_left(buckets, len(sent))
            valid_buckets[buck] = 1
            if buck == len(buckets):
                ndiscard += 1
                continue
            buff = np.full((buckets[buck],), invalid_label, dtype=dtype)
            buff[:len(sent)] = sent
            self.data[buck].append(buff)
        buckets = [j for i, j in enumerate(buckets) if valid_buckets[i] == 1]
        self.data = [np.asarray(i, dtype=dtype) for i in self.data if i]

        print(f"WARNING: discarded {ndiscard} sentences longer than the largest bucket.")

        self.batch_size = batch_size
        self.buckets = buckets
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.nddata = []
        self.ndlabel = []
        self.major_axis = layout.find("N")
        self.layout = layout
        self.default_bucket_key = max(buckets)

        shape = (batch_size, self.default_bucket_key) if self.major_axis == 0 else \
            (self.default_bucket_key, batch_size)
        self.provide_data = [DataDesc(name=self.data_name, shape=shape, layout=self.layout)]
        self.provide_label = [DataDesc(name=self.label_name, shape=shape, layout=self.layout)]

        self.idx = []
        for i, buck in enumerate(self.data):
            self.idx.extend([(i, j) for j in range(0, len(buck) - batch_size + 1, batch_size)])
        self.curr_idx = 0
        self.reset()

    def reset(self):
        """Start over: shuffle the batch order and the sentences inside each bucket."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for buck in self.data:
            np.random.shuffle(buck)
        self.nddata = []
        self.ndlabel = []
        for buck in self.data:
            label = np.empty_like(buck)
            label[:, :-1] = buck[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(nd_array(buck, dtype=self.dtype))
            self.ndlabel.append(nd_array(label, dtype=self.dtype))

    def next(self):
        """The next batch (``bucket_key`` is its length); ``StopIteration`` at the end."""
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self._rows(self.nddata[i], j)
        label = self._rows(self.ndlabel[i], j)
        return DataBatch([data], [label], pad=0,
                         bucket_key=self.buckets[i],
                         provide_data=[DataDesc(name=self.data_name, shape=data.shape,
                                                layout=self.layout)],
                         provide_label=[DataDesc(name=self.label_name, shape=label.shape,
                                                 layout=self.layout)])

    def _rows(self, arr: NDArray, j: int) -> NDArray:
        t = arr.torch_tensor()[j:j + self.batch_size]
        if self.major_axis == 1:
            t = t.t()
        return NDArray(t.clone(memory_format=torch.contiguous_format), arr.context)
