"""``mx.rnn``: MXNet 1.x's recurrent cells (symbol builders) and sentence encoding.

``mx.rnn.LSTMCell(num_hidden=...).unroll(length, inputs)`` builds the same graph MXNet 1.9.1
builds; ``FusedRNNCell`` builds the fused ``RNN`` operator. ``BucketSentenceIter`` is provided by
the data-iterator package (``runtime.rnn_io``) and reached through this module.
"""
from . import io, rnn, rnn_cell  # noqa: F401
from .io import encode_sentences
from .rnn import do_rnn_checkpoint, load_rnn_checkpoint, rnn_unroll, save_rnn_checkpoint
from .rnn_cell import (
    BaseRNNCell,
    BidirectionalCell,
    DropoutCell,
    FusedRNNCell,
    GRUCell,
    LSTMCell,
    ModifierCell,
    ResidualCell,
    RNNCell,
    RNNParams,
    SequentialRNNCell,
    ZoneoutCell,
)

__all__ = ["RNNParams", "BaseRNNCell", "RNNCell", "LSTMCell", "GRUCell", "FusedRNNCell",
           "SequentialRNNCell", "DropoutCell", "ModifierCell", "ZoneoutCell", "ResidualCell",
           "BidirectionalCell", "encode_sentences", "rnn_unroll", "save_rnn_checkpoint",
           "load_rnn_checkpoint", "do_rnn_checkpoint"]


def __getattr__(name):
    if name == "BucketSentenceIter":          # lives with the data iterators
        from runtime.rnn_io import BucketSentenceIter
        return BucketSentenceIter
    raise AttributeError(f"module 'mxc.rnn' has no attribute {name!r}")
