"""The symbol frontend against what MXNet 1.9.1 reported for the same graphs.

tests/data/symbols/<net>-symbol.json were written by MXNet 1.9.1; <net>-expect.json holds its
list_*, internals, attrs, infer_shape(_partial) and infer_type results
(tools/make_symbol_golden.py). naming-expect.json holds MXNet's automatic names for snippets of
Python, which run here with mx = mxc.
"""
import json
import os

import numpy as np
import pytest

import mxc as mx

DATA = os.path.join(os.path.dirname(__file__), "data", "symbols")
NETS = ["mlp", "convnet_bn", "resblock", "lstm_unrolled", "misc_ops", "legacy_mlp"]


def _expect(net):
    with open(os.path.join(DATA, f"{net}-expect.json")) as f:
        return json.load(f)


def _load(net):
    return mx.sym.load(os.path.join(DATA, f"{net}-symbol.json"))


def _shapes(x):
    return None if x is None else [list(s) for s in x]


@pytest.mark.parametrize("net", NETS)
def test_lists(net):
    s, e = _load(net), _expect(net)
    assert s.list_arguments() == e["list_arguments"]
    assert s.list_outputs() == e["list_outputs"]
    assert s.list_auxiliary_states() == e["list_auxiliary_states"]
    assert s.list_inputs() == e["list_inputs"]
    assert s.get_internals().list_outputs() == e["internals"]["list_outputs"]
    if e.get("children"):
        assert s.get_children().list_outputs() == e["children"]["list_outputs"]
    assert s.name == e["name"]
    assert repr(s) == e["repr"]


@pytest.mark.parametrize("net", NETS)
def test_attrs(net):
    s, e = _load(net), _expect(net)
    assert s.attr_dict() == e["attr_dict"]
    assert s.list_attr() == e["list_attr"]


@pytest.mark.parametrize("net", NETS)
def test_infer_shape(net):
    s, e = _load(net), _expect(net)
    shapes = {k: tuple(v) for k, v in e["input_shapes"].items()}
    arg, out, aux = s.infer_shape(**shapes)
    want = e["infer_shape"]
    assert _shapes(arg) == want["arg_shapes"]
    assert _shapes(out) == want["out_shapes"]
    assert _shapes(aux) == want["aux_shapes"]


@pytest.mark.parametrize("net", NETS)
def test_infer_shape_partial(net):
    s, e = _load(net), _expect(net)
    for case in e.get("infer_shape_partial_cases", []):
        want = case["infer_shape_partial"]
        if "error" in want:
            with pytest.raises(mx.MXNetError):
                s.infer_shape_partial(**{k: tuple(v) for k, v in case["input"].items()})
            continue
        arg, out, aux = s.infer_shape_partial(**{k: tuple(v) for k, v in case["input"].items()})
        assert _shapes(arg) == want["arg_shapes"], case["input"]
        assert _shapes(out) == want["out_shapes"], case["input"]
        assert _shapes(aux) == want["aux_shapes"], case["input"]
    if "infer_shape_with_partial_input" in e:
        shapes = {k: tuple(v) for k, v in e["partial_input_shapes"].items()}
        want = e["infer_shape_with_partial_input"]
        if "error" in want:
            with pytest.raises(mx.MXNetError):
                s.infer_shape(**shapes)
        else:
            with pytest.warns(UserWarning) if want["arg_shapes"] is None else _nullctx():
                arg, out, aux = s.infer_shape(**shapes)
            assert _shapes(arg) == want["arg_shapes"]


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@pytest.mark.parametrize("net", NETS)
def test_infer_type(net):
    s, e = _load(net), _expect(net)
    arg, out, aux = s.infer_type(**e["type_inputs"])
    want = e["infer_type"]
    assert [np.dtype(t).name for t in arg] == want["arg_types"]
    assert [np.dtype(t).name for t in out] == want["out_types"]
    assert [np.dtype(t).name for t in aux] == want["aux_types"]


def _nodes(doc):
    return [(n["op"], n["name"], n.get("attrs", {}), [list(i[:2]) for i in n["inputs"]])
            for n in doc["nodes"]]


@pytest.mark.parametrize("net", NETS)
def test_tojson_matches_mxnet(net):
    s, e = _load(net), _expect(net)
    mine = json.loads(s.tojson())
    want = e["tojson"]
    assert _nodes(mine) == _nodes(want)
    assert mine["arg_nodes"] == want["arg_nodes"]
    assert mine["node_row_ptr"] == want["node_row_ptr"]
    assert [h[:2] for h in mine["heads"]] == [h[:2] for h in want["heads"]]
    again = mx.sym.load_json(s.tojson())
    assert again.tojson() == s.tojson()


def _run_naming_case(code):
    records = []

    def rec(sym):
        nodes = json.loads(sym.tojson())["nodes"]
        records.append({
            "name": sym.name,
            "list_outputs": sym.list_outputs(),
            "list_arguments": sym.list_arguments(),
            "list_auxiliary_states": sym.list_auxiliary_states(),
            "list_attr": sym.list_attr() if len(sym.list_outputs()) == 1 else None,
            "attr_dict": sym.attr_dict(),
            "var_json_attrs": {n["name"]: n.get("attrs", {}) for n in nodes if n["op"] == "null"},
            "op_json": [{"op": n["op"], "name": n["name"], "attrs": n.get("attrs", {})}
                        for n in nodes if n["op"] != "null"],
        })
    with mx.name.NameManager(), mx.AttrScope():
        exec(code, {"mx": mx, "rec": rec, "np": np})
    return records


def test_automatic_names():
    with open(os.path.join(DATA, "naming-expect.json")) as f:
        cases = json.load(f)["cases"]
    failures = []
    for cname, case in cases.items():
        if "error" in case:
            continue
        got = _run_naming_case(case["code"])
        for i, (g, w) in enumerate(zip(got, case["records"])):
            for key in ("name", "list_outputs", "list_arguments", "list_auxiliary_states",
                        "attr_dict", "var_json_attrs"):
                if key in w and g[key] != w[key]:
                    failures.append(f"{cname}[{i}].{key}: {g[key]!r} != {w[key]!r}")
            if "op_json" in w:
                mine = [(o["name"], o["attrs"]) for o in g["op_json"]]
                theirs = [(o["name"], o["attrs"]) for o in w["op_json"]]
                if mine != theirs:
                    failures.append(f"{cname}[{i}].op_json: {mine} != {theirs}")
        if len(got) != len(case["records"]):
            failures.append(f"{cname}: {len(got)} records, expected {len(case['records'])}")
    assert not failures, "\n".join(failures[:30])
