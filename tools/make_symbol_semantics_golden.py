"""Write golden data for Symbol semantics (attributes, JSON bytes, debug_str, partial shape
inference, NumPy-shape mode, indexing and errors) from the real MXNet 1.9.1.

Run with the reference venv (see ../shared/oracle/README.md):

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_symbol_semantics_golden.py

It writes tests/data/symbol_semantics/cases.json: for every case below, the Python source that
was run (with ``mx`` bound to mxnet) and what it recorded. The source calls

- ``rec(sym)``: the symbol's exact ``tojson()`` text, ``list_outputs``, ``list_attr`` (one
  output), ``attr_dict`` and ``debug_str``;
- ``val(label, value)``: any JSON-able value (shapes become lists);
- ``err(label, fn)``: calls ``fn()`` and records the exception's kind (``MXNetError``,
  ``ValueError``, ``TypeError``, ``IndexError``, ``NotImplementedForSymbol``,
  ``DeprecationWarning``), or ``"no error"``.

Every case runs inside a fresh ``mx.name.NameManager()`` and ``mx.AttrScope()``, so automatic
names restart at 0. tests/test_symbol_semantics.py runs the same sources with ``mx`` bound to
mxc and compares. The script is deterministic: running it twice leaves identical bytes.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import textwrap
import warnings

import mxnet as mx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "symbol_semantics")

warnings.simplefilter("ignore")
logging.disable(logging.WARNING)

# name -> source; the same sources are run by the test with mx = mxc
CASES = {
    "op_hidden_keywords": """
        data = mx.sym.Variable('data')
        for kw in [dict(lr_mult=2), dict(wd_mult=0.5), dict(ctx_group='dev1'),
                   dict(__foo__='bar'), dict(force_mirroring='True'), dict(mirror_stage='True'),
                   dict(lr_mult=0.1, wd_mult=0, ctx_group=1)]:
            rec(mx.sym.FullyConnected(data, num_hidden=5, name='fc', **kw))
    """,
    "op_attr_dict": """
        data = mx.sym.Variable('data')
        rec(mx.sym.FullyConnected(data, num_hidden=5, name='fc', attr={'lr_mult': '3'}))
        rec(mx.sym.FullyConnected(data, num_hidden=5, name='fc',
                                  attr={'__lr_mult__': '3', '__zz__': 'q', 'ctx_group': 'g'}))
        rec(mx.sym.exp(data, lr_mult=2, attr={'lr_mult': '3'}, name='e1'))
        rec(mx.sym.exp(data, attr={'__lr_mult__': '3'}, lr_mult=2, name='e2'))
        rec(mx.sym.FullyConnected(data, num_hidden=2, attr={'num_hidden': '5'}, name='fc2'))
        rec(mx.sym.Concat(data, data, dim=0, attr={'dim': '1', '__x__': 'y'}, lr_mult=3,
                          name='cat'))
    """,
    "scope_precedence": """
        a = mx.sym.Variable('a')
        with mx.AttrScope(ctx_group='g1', lr_mult='2'):
            rec(mx.sym.Variable('v'))
            rec(mx.sym.FullyConnected(a, num_hidden=2, name='f1'))
            rec(mx.sym.FullyConnected(a, num_hidden=2, name='f2', ctx_group='g2'))
            rec(mx.sym.FullyConnected(a, num_hidden=2, name='f3', attr={'ctx_group': 'g3'}))
        with mx.AttrScope(ctx_group='outer'):
            with mx.AttrScope(wd_mult='0'):
                rec(mx.sym.exp(a, name='nested'))
        with mx.AttrScope(foo='bar'):
            rec(mx.sym.exp(a, name='plain'))
            err('scoped plain key on an op with parameters',
                lambda: mx.sym.FullyConnected(a, num_hidden=2))
    """,
    "paramless_op_keeps_plain_keys": """
        a = mx.sym.Variable('a')
        rec(mx.sym.exp(a, foo='bar', name='e'))
        rec(mx.sym.load_json(mx.sym.exp(a, name='ee', attr={'foo': 'bar'}).tojson()))
        err('plain key on an op with parameters',
            lambda: mx.sym.FullyConnected(a, num_hidden=3, foo='bar'))
        err('plain key in attr= on an op with parameters',
            lambda: mx.sym.FullyConnected(a, num_hidden=3, attr={'foo': 'x'}))
        err('Concat plain key', lambda: mx.sym.Concat(a, a, dim=0, foo=3))
    """,
    "deprecated_argument_attrs": """
        a = mx.sym.Variable('a')
        err('op keyword weight_lr_mult',
            lambda: mx.sym.FullyConnected(a, num_hidden=3, weight_lr_mult=1))
        err('op attr weight_lr_mult', lambda: mx.sym.exp(a, attr={'weight_lr_mult': 'x'}))
        err('op keyword fc_ctx_group', lambda: mx.sym.exp(a, fc_ctx_group='x'))
        err('Variable attr weight_lr_mult',
            lambda: mx.sym.Variable('v', attr={'weight_lr_mult': 'x'}))
        fc = mx.sym.FullyConnected(a, num_hidden=3, name='fc')
        err('_set_attr weight_lr_mult', lambda: fc._set_attr(weight_lr_mult='1'))
    """,
    "variable_attrs": """
        rec(mx.sym.Variable('v', lr_mult=2, wd_mult=0.5, dtype='float16', shape=3))
        rec(mx.sym.Variable('w', shape=(2, 3), attr={'lr_mult': '2', 'foo': 'x'},
                            __bar__=7))
        rec(mx.sym.Variable('u', shape=[4, 5], init=mx.init.Constant(0.5)))
        err('Variable plain keyword', lambda: mx.sym.Variable('v', foo='bar'))
        err('Variable ctx_group keyword', lambda: mx.sym.Variable('v', ctx_group='x'))
        err('Variable attr int value', lambda: mx.sym.Variable('v', attr={'lr_mult': 2}))
        err('AttrScope int value', lambda: mx.AttrScope(x=1))
    """,
    "set_attr": """
        a = mx.sym.Variable('a')
        b = mx.sym.Variable('b')
        fc = mx.sym.FullyConnected(a, num_hidden=3, name='fc')
        fc._set_attr(name='renamed')
        rec(fc)
        fc._set_attr(num_hidden='7', lr_mult='3', __mood__='calm')
        rec(fc)
        val('fc infer', fc.infer_shape(a=(2, 4)))
        a._set_attr(ctx_group='x', __shape__='(3,)')
        rec(a)
        c = a + b
        c._set_attr(foo='bar')
        rec(c)
        val('c infer', c.infer_shape(a=(3,)))
        sl = mx.sym.SliceChannel(b, num_outputs=2, name='sl')
        sl._set_attr(__x__='1')
        rec(sl)
        err('_set_attr non-string', lambda: c._set_attr(foo=1))
        err('_set_attr on a group', lambda: mx.sym.Group([a, b])._set_attr(x='y'))
        err('_set_attr unknown op parameter', lambda: fc._set_attr(foo='bar'))
    """,
    "attr_lookup": """
        a = mx.sym.Variable('a', lr_mult=2, attr={'mood': 'angry'})
        fc = mx.sym.FullyConnected(a, num_hidden=3, name='fc', wd_mult=0)
        sl = mx.sym.SliceChannel(a, num_outputs=2, name='sl')
        for s in (a, fc, sl, sl[1]):
            val(repr(s), [s.attr(k) for k in ('name', 'op_name', 'num_hidden', 'num_outputs',
                                              'lr_mult', '__lr_mult__', 'wd_mult', 'mood',
                                              'nothing')])
        g = mx.sym.Group([a, fc])
        val('group attr', [g.attr('name'), g.attr('lr_mult')])
        val('group list_attr', g.list_attr())
        val('group name', g.name)
        val('same-node group attr', mx.sym.Group([a, a]).attr('name'))
        err('list_attr recursive', lambda: fc.list_attr(recursive=True))
    """,
    "json_layout": """
        xs = [mx.sym.Variable('x%d' % i) for i in range(11)]
        c = mx.sym.Concat(*xs, dim=0, name='cat')
        c._set_attr(__tab__='a\\tb"c\\\\d\\n', __uni__='\\u00e9t\\u00e9')
        rec(c)
        rec(mx.sym.Group([mx.sym.exp(x) for x in xs]))
        rec(mx.sym.ones((2, 3), name='o') * 2)
        rec(mx.sym.Variable('lonely'))
    """,
    "aux_versions": """
        data = mx.sym.Variable('data', attr={'k': 'v'})
        bn = mx.sym.BatchNorm(data, name='bn', fix_gamma=False)
        rec(bn)
        rec(mx.sym.Group([bn, mx.sym.Variable('a')]))
        fc = mx.sym.FullyConnected(bn, num_hidden=3, name='fc')
        bn2 = mx.sym.BatchNorm(fc, name='bn2')
        rec(mx.sym.SoftmaxOutput(bn2, name='softmax'))
    """,
    "debug_str_graphs": """
        a = mx.sym.Variable('a')
        rec(mx.sym.FullyConnected(2 * a + mx.sym.sin(a), num_hidden=10, name='fc'))
        rec(mx.sym.sin(a))
        rec(mx.sym.Group([a, mx.sym.exp(a, name='e')]))
        rec(mx.sym.SliceChannel(a, num_outputs=3, name='sl'))
        rec(mx.sym.SliceChannel(a, num_outputs=3, name='sl2')[2])
    """,
    "partial_shapes_legacy": """
        data = mx.sym.Variable('data', shape=(0, 3))
        fc = mx.sym.FullyConnected(data, num_hidden=5, name='fc')
        val('partial with 0 batch', fc.infer_shape_partial())
        val('full with 0 batch', fc.infer_shape())
        d2 = mx.sym.Variable('data')
        fc2 = mx.sym.FullyConnected(d2, num_hidden=5, name='fc')
        val('partial nothing known', fc2.infer_shape_partial())
        val('partial data (0, 3)', fc2.infer_shape_partial(data=(0, 3)))
        val('full', fc2.infer_shape(data=(4, 3)))
        bn = mx.sym.BatchNorm(fc2, name='bn')
        val('bn partial', bn.infer_shape_partial(data=(0, 3)))
        val('types partial', mx.sym.Activation(mx.sym.elemwise_add(
            mx.sym.Variable('x'), mx.sym.cast(mx.sym.Variable('y'), dtype='float32')),
            act_type='relu').infer_type_partial(x='float32'))
        val('types none', (d2 + d2).infer_type_partial())
        val('types full missing', (d2 + mx.sym.Variable('z')).infer_type())
        err('infer_shape positional and keyword', lambda: fc2.infer_shape((1, 3), data=(1, 3)))
        err('infer_type positional and keyword', lambda: fc2.infer_type('float32', data='float32'))
    """,
    "np_shape_mode": """
        val('off', mx.is_np_shape())
        with mx.np_shape(True):
            val('on', mx.is_np_shape())
            with mx.np_shape(False):
                val('inner off', mx.is_np_shape())
            val('still on', mx.is_np_shape())
            d = mx.sym.var('data', shape=(0, 2, 3))
            r = mx.sym.sin(d)
            val('zero-size dim is real', r.infer_shape())
            rec(r)
            d = mx.sym.var('data', shape=(-1, 2, 3))
            r = mx.sym.sin(d)
            val('-1 is unknown, partial', r.infer_shape_partial())
            val('-1 is unknown, full', r.infer_shape())
            r = mx.sym.sin(mx.sym.var('data'))
            val('unknown shape is None', r.infer_shape_partial())
            fc = mx.sym.FullyConnected(mx.sym.var('x'), num_hidden=5, name='fc')
            val('fc -1 batch', fc.infer_shape_partial(x=(-1, 3)))
            val('fc 0 batch', fc.infer_shape_partial(x=(0, 3)))
            val('fc nothing', fc.infer_shape_partial())
            rec(fc)
        val('off again', mx.is_np_shape())
        with mx.np_shape(False):
            r = mx.sym.sin(mx.sym.var('data', shape=(0, 2, 3)))
            val('legacy 0 unknown', r.infer_shape_partial())
            val('legacy unknown shape is ()', mx.sym.sin(mx.sym.var('q')).infer_shape_partial())
        val('set_np_shape returns previous', [mx.set_np_shape(True), mx.set_np_shape(True),
                                              mx.set_np_shape(False), mx.is_np_shape()])
        val('use_np_shape', mx.use_np_shape(lambda: mx.is_np_shape())())
        val('util.is_np_array', mx.util.is_np_array())
    """,
    "indexing": """
        a = mx.sym.Variable('a')
        b = mx.sym.Variable('b')
        c = a + b
        g = mx.sym.Group([a, b, c])
        val('len', [len(a), len(c), len(g)])
        val('iter', [s.name for s in g])
        val('by name', [g['a'].name, g['_plus0_output'].name])
        val('slice', g[1:].list_outputs())
        val('slice step', g[::2].list_outputs())
        val('children', c.get_children().list_outputs())
        val('children of a variable', a.get_children())
        val('children of a group', mx.sym.Group([c, c * 2]).get_children().list_outputs())
        val('internals', (c * 2).get_internals().list_outputs())
        val('list_inputs', mx.sym.BatchNorm(name='bn').list_inputs())
        val('astype', [c.astype('float16').name, c.astype('float16').attr('dtype')])
        err('missing name', lambda: g['zz'])
        err('duplicate name', lambda: mx.sym.Group([a, a])['a'])
        err('past the end', lambda: g[5])
        err('negative', lambda: g[-1])
        err('negative slice', lambda: g[-2:])
        err('empty slice', lambda: g[5:])
        err('float', lambda: g[1.0])
        err('empty Group', lambda: mx.sym.Group([]))
    """,
    "symbol_only_errors": """
        a = mx.sym.Variable('a')
        c = a + 1
        err('bool', lambda: bool(c))
        err('in', lambda: a in [c])
        err('+=', lambda: c.__iadd__(1))
        err('-=', lambda: c.__isub__(a))
        err('*=', lambda: c.__imul__(2))
        err('/=', lambda: c.__itruediv__(2))
        for m in ['asnumpy', 'asscalar', 'copy', 'detach', 'backward', 'wait_to_read']:
            err(m, getattr(c, m))
        err('== str', lambda: c == 'x')
        err('== None', lambda: c == None)  # noqa: E711
        err('+ str', lambda: c + 'x')
        err('str +', lambda: 'x' + c)
        val('as_nd_ndarray', c.as_nd_ndarray() is c)
        val('reflected with symbols', [c.__rsub__(a).name, c.__rpow__(a).name,
                                       c.__rtruediv__(a).name, c.__rmod__(a).name])
        val('numpy scalar', (c + __import__('numpy').float32(2)).name)
        val('comparisons', [(c == 1).name, (c != a).name, (c > 1).name, (c >= a).name,
                            (c < 1).name, (c <= a).name, (-c).name, abs(c).name])
    """,
}


def to_jsonable(x):
    if isinstance(x, tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, list):
        return [to_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, type):
        return x.__name__           # numpy scalar types from infer_type
    return x


def error_kind(exc: BaseException) -> str:
    for cls in ("NotImplementedForSymbol", "MXNetError"):
        if any(c.__name__ == cls for c in type(exc).__mro__):
            return cls
    for cls in (DeprecationWarning, IndexError, TypeError, ValueError):
        if isinstance(exc, cls):
            return cls.__name__
    return type(exc).__name__


def run_case(src: str) -> list:
    records = []

    def rec(sym):
        records.append({"rec": {
            "tojson": sym.tojson(),
            "list_outputs": sym.list_outputs(),
            "list_attr": sym.list_attr(),
            "attr_dict": sym.attr_dict(),
            "debug_str": sym.debug_str(),
        }})

    def val(label, value):
        records.append({"val": [label, to_jsonable(value)]})

    def err(label, fn):
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                fn()
        except Exception as exc:  # noqa: BLE001 - we record what MXNet raises
            records.append({"err": [label, error_kind(exc)]})
            return
        records.append({"err": [label, "no error"]})

    with mx.name.NameManager(), mx.AttrScope():
        exec(textwrap.dedent(src), {"mx": mx, "rec": rec, "val": val, "err": err})
    mx.set_np_shape(False)
    return records


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {}
    for name, src in CASES.items():
        src = textwrap.dedent(src).strip() + "\n"
        cases[name] = {"code": src, "records": run_case(src)}
    doc = {"mxnet_version": mx.__version__, "cases": cases}
    path = os.path.join(OUT, "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases, "
          f"{sum(len(c['records']) for c in cases.values())} records")


if __name__ == "__main__":
    main()
