"""``mx.rnn.encode_sentences``: MXNet 1.9.1's ``python/mxnet/rnn/io.py`` vocabulary encoding.

``BucketSentenceIter`` (the bucketing data iterator of the same MXNet file) belongs with the data
iterators; ``mx.rnn.BucketSentenceIter`` forwards to it when it is available.
"""
from __future__ import annotations

from ..base import MXNetError

__all__ = ["encode_sentences", "UnknownTokenError"]


class UnknownTokenError(MXNetError, AssertionError):
    """A word missing from a given vocabulary (MXNet raises an AssertionError here)."""


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key="\n", start_label=0,
                     unknown_token=None):
    """Encode sentences (lists of string tokens) as lists of integer indices.

    Without ``vocab`` a new vocabulary ``{invalid_key: invalid_label}`` is built as words come:
    each new word gets the next index from ``start_label``, skipping ``invalid_label``. With a
    given ``vocab``, a word not in it is an error unless ``unknown_token`` is set; then it gets
    an index of its own under ``unknown_token`` (MXNet adds ``unknown_token`` on first sight and
    maps later unknown words to the index then current).

    Returns ``(encoded sentences, vocab)``.
    """
    idx = start_label
    if vocab is None:
        vocab = {invalid_key: invalid_label}
        new_vocab = True
    else:
        new_vocab = False
    res = []
    for sent in sentences:
        coded = []
        for word in sent:
            if word not in vocab:
                if not (new_vocab or unknown_token):
                    raise UnknownTokenError(f"Unknown token {word}")
                if idx == invalid_label:
                    idx += 1
                if unknown_token:
                    word = unknown_token
                vocab[word] = idx
                idx += 1
            coded.append(vocab[word])
        res.append(coded)
    return res, vocab
