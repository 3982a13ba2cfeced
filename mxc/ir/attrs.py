"""Operator attribute schemas: MXNet's string attributes become typed, validated values.

An MXNet symbol stores every operator parameter as a string (``"num_hidden": "128"``,
``"kernel": "(3, 3)"``, ``"no_bias": "True"``). Each OpDef declares its parameters once with
:class:`Attr`; the symbol frontend keeps MXNet's strings (so JSON round-trips byte for byte), and
the IR holds the typed values that :func:`parse_attrs` produces, with defaults filled in.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any

from ..base import AttrError

__all__ = ["Attr", "REQUIRED", "parse_attrs", "fmt_ir_value", "fmt_mx_value"]


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()

_KINDS = ("int", "float", "bool", "str", "shape", "floats", "dtype", "any")


@dataclass(frozen=True)
class Attr:
    """One operator parameter.

    kind: ``int``, ``float``, ``bool``, ``str`` (``choices`` limits it), ``shape`` (tuple of ints;
    ``None`` entries allowed when ``none_items``), ``floats`` (tuple of floats), ``dtype`` (a
    numpy dtype name) or ``any`` (a literal kept as parsed). ``optional`` admits ``None``.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple = ()
    optional: bool = False
    none_items: bool = False
    doc: str = ""
    check: Any = field(default=None, compare=False)  # callable(value) -> error text or None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Attr {self.name}: unknown kind {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    # -- parsing -------------------------------------------------------------------------------
    def coerce(self, value, where: str = ""):
        """Turn an MXNet attribute string or a Python value into the typed value, or raise."""
        try:
            v = self._coerce(value)
        except (ValueError, TypeError, SyntaxError) as e:
            raise AttrError(f"{where}: attribute {self.name}={value!r} is not a valid "
                            f"{self.describe()}") from e
        if self.choices and v is not None and v not in self.choices:
            raise AttrError(f"{where}: attribute {self.name}={value!r} is not accepted; "
                            f"expected one of {', '.join(map(repr, self.choices))}")
        if self.check is not None and v is not None:
            msg = self.check(v)
            if msg:
                raise AttrError(f"{where}: attribute {self.name}={value!r} {msg}")
        return v

    def describe(self) -> str:
        base = {"int": "integer", "float": "number", "bool": "boolean", "str": "string",
                "shape": "tuple of integers", "floats": "tuple of numbers",
                "dtype": "dtype name", "any": "value"}[self.kind]
        return base + (" or None" if self.optional else "")

    def _coerce(self, v):
        if isinstance(v, str):
            s = v.strip()
            if self.optional and s in ("None", "none", ""):
                return None
            return self._from_str(s)
        if v is None:
            if self.optional:
                return None
            raise ValueError("None not allowed")
        return self._from_py(v)

    def _from_str(self, s: str):
        k = self.kind
        if k == "int":
            return int(float(s)) if ("e" in s or "." in s) and float(s).is_integer() else int(s)
        if k == "float":
            return float(s)
        if k == "bool":
            low = s.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            raise ValueError(s)
        if k in ("str", "dtype"):
            return _unquote(s) if k == "str" else _dtype_name(_unquote(s))
        if k in ("shape", "floats"):
            if s in ("None", "none") and self.optional:
                return None
            lit = ast.literal_eval(s) if s else ()
            return self._from_py(lit)
        return _literal(s)

    def _from_py(self, v):
        k = self.kind
        if k == "int":
            if isinstance(v, bool) or not float(v).is_integer():
                raise ValueError(v)
            return int(v)
        if k == "float":
            if isinstance(v, bool):
                return float(v)
            return float(v)
        if k == "bool":
            if isinstance(v, (bool, int)) or type(v).__name__ == "bool_":
                return bool(v)
            raise ValueError(v)
        if k == "str":
            if not isinstance(v, str):
                raise ValueError(v)
            return v
        if k == "dtype":
            return _dtype_name(v)
        if k == "shape":
            if isinstance(v, (int,)) and not isinstance(v, bool):
                return (int(v),)
            out = []
            for x in v:
                if x is None and self.none_items:
                    out.append(None)
                elif isinstance(x, bool) or x is None:
                    raise ValueError(x)
                else:
                    out.append(int(x))
            return tuple(out)
        if k == "floats":
            if isinstance(v, (int, float)):
                return (float(v),)
            return tuple(float(x) for x in v)
        return v


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def _dtype_name(v) -> str:
    from .types import DType
    if isinstance(v, str) and v in ("None",):
        return None
    return DType.parse(v).np_name


def _literal(s: str):
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s


def parse_attrs(schema: tuple, raw: dict, where: str) -> dict:
    """Typed attrs from ``raw`` (strings or Python values), defaults filled in, in schema order.

    Keys of the form ``__name__`` are user annotations (``__ctx_group__``, ``__lr_mult__``) and
    are not operator parameters; they are ignored here. Unknown keys raise, naming the accepted
    ones, as MXNet does.
    """
    by_name = {a.name: a for a in schema}
    for k in raw:
        if k not in by_name and not (k.startswith("__") and k.endswith("__")):
            accepted = ", ".join(a.name for a in schema) or "none"
            raise AttrError(f"{where}: unknown attribute {k!r}; accepted: {accepted}")
    out = {}
    for a in schema:
        if a.name in raw:
            out[a.name] = a.coerce(raw[a.name], where)
        elif a.required:
            raise AttrError(f"{where}: required attribute {a.name!r} ({a.describe()}) "
                            "is missing")
        else:
            out[a.name] = a.default
    return out


def fmt_ir_value(v) -> str:
    """Attribute value in IR text: ``128``, ``0.5``, ``true``, ``"relu"``, ``(3, 3)``, ``none``."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if any(c in r for c in ".e") else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        inner = ", ".join(fmt_ir_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"attribute value {v!r} has no IR text form")


def fmt_mx_value(v) -> str:
    """Attribute value as MXNet writes it in symbol JSON (``str()`` of the Python value)."""
    if isinstance(v, tuple):
        return "(" + ", ".join("None" if x is None else fmt_mx_value(x) for x in v) + \
            ("," if len(v) == 1 else "") + ")"
    return str(v)
