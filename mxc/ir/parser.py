"""Parser for the IR text form printed by ``mxc.ir.printer``. Errors give line:col."""
from __future__ import annotations

import math
import re

from ..base import MXNetError, ParseError
from .core import Graph, Op, Value, infer_op_types
from .registry import get_op
from .types import DType, TensorType

__all__ = ["parse"]

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+|\#[^\n]*) |
    (?P<nl>\n) |
    (?P<str>"(?:[^"\\]|\\.)*") |
    (?P<pct>%) | (?P<at>@) |
    (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+(?:[eE][-+]?\d+)?|\d+)(?![A-Za-z_$.]))|
    (?P<ident>[A-Za-z0-9_.$-]+) |
    (?P<punct>>>|[()\[\]{},:=?*])
""", re.VERBOSE)


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col

    def __repr__(self):
        return f"{self.kind}:{self.text!r}@{self.line}:{self.col}"


def _tokenize(src: str) -> list[_Tok]:
    toks, pos, line, lstart = [], 0, 1, 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise ParseError(_where(src, line, pos - lstart + 1,
                                    f"unexpected character {src[pos]!r}"))
        kind = m.lastgroup
        text = m.group()
        if kind == "nl":
            line += 1
            lstart = m.end()
        elif kind != "ws":
            toks.append(_Tok(kind, text, line, pos - lstart + 1))
        pos = m.end()
    toks.append(_Tok("eof", "", line, pos - lstart + 1))
    return toks


def _where(src, line, col, msg):
    lines = src.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"line {line}:{col}: {msg}\n  {text}\n  {' ' * (col - 1)}^"


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def err(self, msg, tok=None):
        t = tok or self.tok
        return ParseError(_where(self.src, t.line, t.col, msg))

    def next(self) -> _Tok:
        t = self.tok
        self.i += 1
        return t

    def accept(self, text) -> bool:
        if self.tok.text == text and self.tok.kind in ("punct", "ident"):
            self.i += 1
            return True
        return False

    def expect(self, text):
        if not self.accept(text):
            raise self.err(f"expected {text!r}, found {self.tok.text or 'end of input'!r}")

    def name(self) -> str:
        t = self.next()
        if t.kind == "str":
            return _unescape(t.text)
        if t.kind in ("ident", "num"):
            return t.text
        raise self.err(f"expected a name, found {t.text!r}", t)

    # -- grammar -------------------------------------------------------------------------------
    def graph(self) -> Graph:
        self.expect("graph")
        if self.next().kind != "at":
            raise self.err("expected '@name' after 'graph'", self.toks[self.i - 1])
        gname = self.name()
        env: dict[str, Value] = {}
        inputs = []
        self.expect("(")
        if not self.accept(")"):
            while True:
                t = self.tok
                vname = self.value_name()
                self.expect(":")
                ty = self.type()
                if vname in env:
                    raise self.err(f"%{vname} defined twice", t)
                v = Value(ty, vname)
                env[vname] = v
                inputs.append(v)
                if self.accept(")"):
                    break
                self.expect(",")
        gattrs = self.attr_dict() if self.accept("attributes") else {}
        self.expect("{")
        ops = []
        while True:
            if self.tok.text == "return":
                self.next()
                outs = [self.use(env)]
                while self.accept(","):
                    outs.append(self.use(env))
                self.expect("}")
                return Graph(gname, inputs, ops, outs, gattrs)
            ops.append(self.op(env))

    def attr_dict(self) -> dict:
        """``{name=literal, ...}`` (an op's attributes, a graph's ``attributes``)."""
        out = {}
        self.expect("{")
        if not self.accept("}"):
            while True:
                k = self.name()
                self.expect("=")
                out[k] = self.literal()
                if self.accept("}"):
                    break
                self.expect(",")
        return out

    def value_name(self) -> str:
        if self.next().kind != "pct":
            raise self.err("expected a value '%name'", self.toks[self.i - 1])
        return self.name()

    def use(self, env) -> Value:
        t = self.tok
        n = self.value_name()
        if n not in env:
            raise self.err(f"use of undefined value %{n}", t)
        return env[n]

    def op(self, env) -> Op:
        self.accept(">>")
        start = self.tok
        out_names = []
        if self.tok.kind == "pct":
            out_names.append((self.tok, self.value_name()))
            while self.accept(","):
                out_names.append((self.tok, self.value_name()))
            self.expect("=")
        t = self.next()
        if t.kind != "ident":
            raise self.err(f"expected an operator name, found {t.text!r}", t)
        opname = t.text
        try:
            opdef = get_op(opname)
        except MXNetError as e:
            raise self.err(str(e), t) from None
        self.expect("(")
        ins = []
        if not self.accept(")"):
            ins.append(self.use(env))
            while self.accept(","):
                ins.append(self.use(env))
            self.expect(")")
        raw = {}
        if self.tok.text == "{" and not (self.toks[self.i + 1].text == "graph"
                                         and self.toks[self.i + 2].kind == "at"):
            raw = self.attr_dict()
        types = []
        if self.accept(":"):
            types.append(self.type())
            while self.accept(","):
                types.append(self.type())
        body = None
        if self.tok.text == "{":
            self.next()
            body = self.graph()
            self.expect("}")
        if len(types) != len(out_names):
            raise self.err(f"{opname}: {len(out_names)} results but {len(types)} types", start)
        name = _op_name(opdef, raw, out_names[0][1] if out_names else None)
        try:
            attrs = opdef.parse_attrs(raw, name)
        except MXNetError as e:
            raise self.err(str(e), start) from None
        n_out = opdef.num_outputs(attrs)
        if len(out_names) != n_out:
            raise self.err(f"{opname} has {n_out} outputs; {len(out_names)} named", start)
        outs = []
        for (tok, n), ty in zip(out_names, types):
            if n in env:
                raise self.err(f"%{n} defined twice", tok)
            v = Value(ty, n)
            env[n] = v
            outs.append(v)
        return Op(opdef.name, ins, attrs, outs, name, body)

    def type(self) -> TensorType:
        t = self.next()
        if t.text == "?":
            dt = None
        elif t.kind == "ident" and t.text in _SHORT:
            dt = _SHORT[t.text]
        else:
            raise self.err(f"expected a dtype (f32, i64, ...), found {t.text!r}", t)
        self.expect("[")
        if self.accept("*"):
            self.expect("]")
            return TensorType(None, dt)
        dims = []
        if not self.accept("]"):
            while True:
                d = self.next()
                if d.text == "?":
                    dims.append(None)
                elif d.kind == "num" and d.text.isdigit():
                    dims.append(int(d.text))
                else:
                    raise self.err(f"expected a dimension, found {d.text!r}", d)
                if self.accept("]"):
                    break
                self.expect(",")
        return TensorType(tuple(dims), dt)

    def literal(self):
        t = self.next()
        if t.kind == "num":
            return float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
        if t.kind == "str":
            return _unescape(t.text)
        if t.kind == "ident":
            lit = {"true": True, "false": False, "none": None, "inf": math.inf,
                   "-inf": -math.inf, "nan": math.nan}
            if t.text in lit:
                return lit[t.text]
            raise self.err(f"unexpected {t.text!r} in attribute value", t)
        if t.text == "(":
            items = []
            if self.accept(")"):
                return ()
            while True:
                items.append(self.literal())
                if self.accept(")"):
                    return tuple(items)
                self.expect(",")
                if self.accept(")"):
                    return tuple(items)
        raise self.err(f"expected an attribute value, found {t.text!r}", t)


_SHORT = {d.short: d for d in DType}


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def _op_name(opdef, raw, first_out: str | None):
    """Recover the symbol name an op was printed with from its first output's hint."""
    if first_out is None or first_out.isdigit():
        return None
    try:
        outs = opdef.list_outputs(opdef.parse_attrs(raw))
    except MXNetError:
        return first_out
    if len(outs) == 1 or outs[0] == "output":
        return first_out
    suffix = "_" + outs[0]
    return first_out[: -len(suffix)] if first_out.endswith(suffix) else first_out


def parse(src: str, check_types: bool = False) -> Graph:
    """Parse IR text into a Graph. ``check_types`` re-derives each op's types from its rules."""
    p = _Parser(src)
    g = p.graph()
    if p.tok.kind != "eof":
        raise p.err(f"unexpected {p.tok.text!r} after the graph")
    if check_types:
        for op in g.ops:
            _, outs = infer_op_types(op.opdef, op.attrs, op.name, [v.type for v in op.inputs],
                                     op.body)
            for v, t in zip(op.outputs, outs):
                if v.type != t:
                    raise ParseError(f"{op.opname} '{op.name}': declared type {v.type} but rules "
                                     f"give {t}")
    return g
