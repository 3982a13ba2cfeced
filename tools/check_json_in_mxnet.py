"""Check that symbol JSON written by mxc loads in MXNet 1.9.1.

    python tools/check_json_in_mxnet.py write              # mxc writes the files
    $(../shared/oracle/setup.sh) tools/check_json_in_mxnet.py verify   # MXNet loads them

``write`` builds graphs with mxc's mx.sym and saves tests/data/symbols/mxc_written/<n>.json;
``verify`` loads each in MXNet and records its list_arguments/outputs/aux and infer_shape into
<n>-mxnet.json, which tests/test_symbol_json.py compares with mxc's own answers.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "symbols", "mxc_written")
SHAPES = {
    "mlp": {"data": (8, 20)},
    "ops": {"x": (2, 3, 4), "y": (2, 3, 4)},
    "attrs": {"data": (4, 6)},
}


def build(mx):
    with mx.name.NameManager():
        return _build(mx)


def _build(mx):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    r = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(r, num_hidden=4, no_bias=True, name="fc2")
    mlp = mx.sym.SoftmaxOutput(fc2, name="softmax")
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    a = (x + y) * 2 - 1 / (y ** 2 + 1)
    b = mx.sym.Reshape(mx.sym.transpose(a, axes=(1, 0, 2)), shape=(0, -1))
    c = mx.sym.sum(mx.sym.broadcast_mul(x, y), axis=(0, 2), keepdims=True)
    ops = mx.sym.Group([b, c, mx.sym.softmax(a, axis=1), x > y, -x])
    w = mx.sym.Variable("w", shape=(5, 6), lr_mult=2.0, wd_mult=0.5, dtype="float32",
                        init=None)
    with mx.AttrScope(ctx_group="dev1"):
        attrs = mx.sym.FullyConnected(mx.sym.Variable("data"), weight=w, num_hidden=5,
                                      name="fc")
    return {"mlp": mlp, "ops": ops, "attrs": attrs}


def write():
    sys.path.insert(0, os.path.join(HERE, ".."))
    import mxc as mx
    os.makedirs(OUT, exist_ok=True)
    for n, s in build(mx).items():
        s.save(os.path.join(OUT, f"{n}.json"))
    print("wrote", sorted(build(mx)))


def verify():
    import mxnet as mx
    for n, shapes in SHAPES.items():
        s = mx.sym.load(os.path.join(OUT, f"{n}.json"))
        arg, out, aux = s.infer_shape(**shapes)
        rec = {"list_arguments": s.list_arguments(), "list_outputs": s.list_outputs(),
               "list_auxiliary_states": s.list_auxiliary_states(),
               "attr_dict": s.attr_dict(),
               "infer_shape": [[list(x) for x in arg], [list(x) for x in out],
                               [list(x) for x in aux]]}
        with open(os.path.join(OUT, f"{n}-mxnet.json"), "w") as f:
            json.dump(rec, f, indent=1, sort_keys=True)
    print("MXNet", mx.__version__, "loaded", sorted(SHAPES))


if __name__ == "__main__":
    {"write": write, "verify": verify}[sys.argv[1]]()
