"""MXNet's automatic naming and attribute scopes: NameManager, Prefix, AttrScope.

``mx.sym.FullyConnected(x, num_hidden=4)`` is named ``fullyconnected0``; ``a + b`` is ``_plus0``;
inside ``with mx.name.Prefix('net_'):`` every name gets the prefix. ``with mx.AttrScope(
ctx_group='dev1'):`` attaches attributes to every symbol created inside.
"""
from __future__ import annotations

import threading

__all__ = ["NameManager", "Prefix", "AttrScope", "HIDDEN_KEYS", "store_key", "attr_key"]

# attribute keys MXNet stores as ``__key__`` (and also lists without the underscores)
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")


def store_key(k: str) -> str:
    """The key MXNet stores an attribute under (``lr_mult`` -> ``__lr_mult__``)."""
    return f"__{k}__" if k in HIDDEN_KEYS else k


def attr_key(k: str, value, where: str) -> str:
    """:func:`store_key` for an attribute a user sets (operator keywords, ``attr=``, scopes,
    ``_set_attr``), refusing what MXNet refuses: a key that *ends* in a hidden key
    (``weight_lr_mult``) is MXNet 0.x's per-argument form, which now belongs on the variable."""
    from ..base import AttrError
    k = str(k)
    for hk in HIDDEN_KEYS:
        if k == hk:
            return f"__{hk}__"
        if k.endswith(hk) and not (k.startswith("__") and k.endswith("__")):
            arg = k[: -len(hk)].rstrip("_") or "data"
            raise AttrError(f"{where}: attribute {k}={value!r} sets {hk} of argument {arg!r} "
                            f"the old way; put it on that argument's variable instead: "
                            f"w = mx.sym.Variable('...', {hk}={value!r}), then pass {arg}=w")
    return k


class _Scoped:
    _local = threading.local()
    _scope_base: type | None = None     # subclasses of one scope kind share its stack

    @classmethod
    def _stack(cls):
        base = cls._scope_base or cls
        st = getattr(cls._local, base.__name__, None)
        if st is None:
            st = [base()]
            setattr(cls._local, base.__name__, st)
        return st

    def __enter__(self):
        self._stack().append(self)
        return self

    def __exit__(self, *exc):
        st = self._stack()
        if st[-1] is self:
            st.pop()


class NameManager(_Scoped):
    """Gives each unnamed symbol ``hint + counter`` (``fullyconnected0``, ``_plus1``)."""

    def __init__(self):
        self._counter: dict[str, int] = {}

    def get(self, name: str | None, hint: str) -> str:
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}{n}"

    @classmethod
    def current(cls) -> "NameManager":
        return cls._stack()[-1]

    def __enter__(self):
        return super().__enter__()


NameManager._scope_base = NameManager


class Prefix(NameManager):
    """A NameManager that prefixes every name, explicit or automatic."""

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


class AttrScope(_Scoped):
    """Attributes attached to every symbol created inside ``with AttrScope(**attrs):``."""

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError(f"AttrScope: attribute {k} must be a string; got {v!r}")
        self._attr = dict(kwargs)

    def get(self, attr: dict | None) -> dict:
        out = dict(self._attr)
        if attr:
            out.update(attr)
        return out

    @classmethod
    def current(cls) -> "AttrScope":  # noqa: D102
        return cls._stack()[-1]

    def __enter__(self):
        # nested scopes accumulate, as in MXNet
        outer = self.current()
        merged = dict(outer._attr)
        merged.update(self._attr)
        self._saved = self._attr
        self._attr = merged
        return super().__enter__()

    def __exit__(self, *exc):
        self._attr = self._saved
        return super().__exit__(*exc)


# names MXNet's mxnet.name / mxnet.attribute modules have (this module serves both)
from collections import defaultdict  # noqa: E402,F401

from ..base import classproperty, string_types, with_metaclass  # noqa: E402,F401
