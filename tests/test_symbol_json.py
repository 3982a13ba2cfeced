"""JSON written by mxc loads in MXNet 1.9.1 (tools/check_json_in_mxnet.py recorded what MXNet
reported after loading it), and round-trips through mxc."""
import json
import os
import sys

import pytest

import mxc as mx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from check_json_in_mxnet import OUT, SHAPES, build  # noqa: E402


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_mxnet_loaded_what_mxc_wrote(name):
    with open(os.path.join(OUT, f"{name}-mxnet.json")) as f:
        theirs = json.load(f)
    sym = build(mx)[name]
    with open(os.path.join(OUT, f"{name}.json")) as f:
        assert json.load(f) == json.loads(sym.tojson()), "rerun tools/check_json_in_mxnet.py"
    assert sym.list_arguments() == theirs["list_arguments"]
    assert sym.list_outputs() == theirs["list_outputs"]
    assert sym.list_auxiliary_states() == theirs["list_auxiliary_states"]
    assert sym.attr_dict() == theirs["attr_dict"]
    arg, out, aux = sym.infer_shape(**SHAPES[name])
    assert [[list(x) for x in arg], [list(x) for x in out], [list(x) for x in aux]] == \
        theirs["infer_shape"]
    again = mx.sym.load(os.path.join(OUT, f"{name}.json"))
    assert again.tojson() == sym.tojson()
