"""Malformed symbol JSON and other bad input raise MXNetError subclasses that say where."""
import json
import os

import pytest

import mxc as mx
from mxc.base import AttrError, FormatError, UnsupportedError

DATA = os.path.join(os.path.dirname(__file__), "data", "symbols")


def _mlp_doc():
    with open(os.path.join(DATA, "mlp-symbol.json")) as f:
        return json.load(f)


def test_not_json_and_missing_keys(tmp_path):
    with pytest.raises(FormatError, match=r"invalid JSON at line 1 column 2"):
        mx.sym.load_json("{nodes")
    with pytest.raises(FormatError, match="missing key\\(s\\) 'heads'"):
        mx.sym.load_json(json.dumps({"nodes": []}))
    p = tmp_path / "bin-symbol.json"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(FormatError, match="not a symbol JSON file"):
        mx.sym.load(str(p))


def test_node_index_out_of_range():
    doc = _mlp_doc()
    doc["nodes"][3]["inputs"][0] = [99, 0, 0]
    with pytest.raises(FormatError, match=r"node 3 \(FullyConnected 'fc1'\): input 0 refers "
                                          r"to node 99, out of range"):
        mx.sym.load_json(json.dumps(doc))


def test_cycle_is_rejected():
    doc = _mlp_doc()
    doc["nodes"][3]["inputs"][0] = [5, 0, 0]     # fc1 reads a node defined after it
    with pytest.raises(FormatError, match="not defined before it"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["nodes"][3]["inputs"][0] = [3, 0, 0]     # fc1 reads itself
    with pytest.raises(FormatError, match="node 3 .* refers to node 3"):
        mx.sym.load_json(json.dumps(doc))


def test_unknown_operator_and_bad_attrs():
    doc = _mlp_doc()
    doc["nodes"][3]["op"] = "FancyLayer"
    with pytest.raises(UnsupportedError, match="node 3 'fc1': operator 'FancyLayer' is not "
                                               "supported"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["nodes"][3]["attrs"]["num_hidden"] = "many"
    with pytest.raises(AttrError, match="FullyConnected 'fc1': attribute num_hidden='many'"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["nodes"][3]["attrs"]["num_hidden"] = "0"
    with pytest.raises(AttrError, match="num_hidden=0; expected num_hidden >= 1"):
        mx.sym.load_json(json.dumps(doc))


def test_wrong_arity_and_heads():
    doc = _mlp_doc()
    doc["nodes"][3]["inputs"] = doc["nodes"][3]["inputs"][:2]
    with pytest.raises(FormatError, match="has 2 inputs; FullyConnected takes 3"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["heads"] = [[len(doc["nodes"]) + 3, 0, 0]]
    with pytest.raises(FormatError, match="head 0"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["heads"] = [[3, 5, 0]]
    with pytest.raises(FormatError, match="refers to output 5 of node 3"):
        mx.sym.load_json(json.dumps(doc))


def test_symbol_creation_errors():
    x = mx.sym.Variable("x")
    with pytest.raises(AttrError, match="Activation 'act': attribute act_type='swish' is not "
                                        "accepted; expected one of"):
        mx.sym.Activation(x, act_type="swish", name="act")
    with pytest.raises(AttrError, match="required attribute 'num_hidden'"):
        mx.sym.FullyConnected(x, name="fc")
    with pytest.raises(AttrError, match="unknown attribute 'num_hiden'"):
        mx.sym.FullyConnected(x, num_hiden=3, name="fc")
    with pytest.raises(AttrError, match=r"sum 's': axis=5 is out of range for a 2-d input"):
        mx.sym.sum(x, axis=5, name="s").infer_shape(x=(2, 3))


def test_save_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "net-symbol.json"
    x = mx.sym.Variable("x")
    mx.sym.exp(x).save(str(p))
    before = p.read_text()
    import mxc.symbol.symbol as symmod

    def boom(self):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(symmod.Symbol, "tojson", boom)
    with pytest.raises(RuntimeError):
        mx.sym.log(x).save(str(p))
    assert p.read_text() == before
    assert os.listdir(tmp_path) == ["net-symbol.json"]
