"""Symbol semantics as MXNet 1.9.1 has them: per-operator attributes (keywords, ``attr=``, scopes,
``_set_attr``), JSON written byte for byte as MXNet writes it, ``debug_str``, partial shape
inference and NumPy-shape mode, indexing, and the NDArray-only functions that a Symbol refuses.

The golden cases (tests/data/symbol_semantics/cases.json, written by
tools/make_symbol_semantics_golden.py with the real MXNet) are run here with ``mx = mxc``; the
other tests follow MXNet's own test_symbol.py / test_attr.py / test_infer_shape.py.
"""
import copy
import json
import os
import pickle
import warnings

import numpy as np
import pytest

import mxc as mx

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "symbol_semantics")

with open(os.path.join(DATA, "cases.json"), encoding="utf-8") as _f:
    CASES = json.load(_f)["cases"]

_KINDS = {
    "MXNetError": mx.base.MXNetError,
    "NotImplementedForSymbol": mx.base.NotImplementedForSymbol,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "IndexError": IndexError,
    "DeprecationWarning": DeprecationWarning,
}


def _jsonable(x):
    if isinstance(x, (tuple, list)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, type):
        return x.__name__
    return x


def _run(code):
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
        records.append({"val": [label, _jsonable(value)]})

    def err(label, fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - compared with what MXNet raised below
            records.append({"err": [label, exc]})
            return
        records.append({"err": [label, "no error"]})

    try:
        with mx.name.NameManager(), mx.AttrScope(), warnings.catch_warnings():
            warnings.simplefilter("ignore")     # MXNet warns too (infer_shape with unknowns)
            exec(code, {"mx": mx, "rec": rec, "val": val, "err": err})
    finally:
        mx.set_np_shape(False)
    return records


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_case(case):
    want = CASES[case]["records"]
    got = _run(CASES[case]["code"])
    assert len(got) == len(want), f"{len(got)} records, MXNet recorded {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        where = f"{case} record {i}"
        if "rec" in w:
            for key in ("list_outputs", "list_attr", "attr_dict", "debug_str", "tojson"):
                assert g["rec"][key] == w["rec"][key], f"{where}: {key}"
        elif "val" in w:
            assert g["val"] == w["val"], where
        else:
            label, kind = w["err"]
            exc = g["err"][1]
            assert g["err"][0] == label
            if kind == "no error":
                assert exc == "no error", f"{where} ({label}): raised {exc!r}"
            else:
                assert isinstance(exc, _KINDS[kind]), \
                    f"{where} ({label}): MXNet raised {kind}; mxc {exc!r}"


def test_mxnet_json_reloads_to_the_same_bytes():
    """Every JSON MXNet wrote in the golden cases loads in mxc and is written back unchanged."""
    n = 0
    for case in CASES.values():
        for r in case["records"]:
            if "rec" not in r:
                continue
            text = r["rec"]["tojson"]
            doc = json.loads(text)
            np_mode = "is_np_shape" in doc["attrs"]
            with mx.np_shape(np_mode):
                assert mx.sym.load_json(text).tojson() == text
            n += 1
    assert n > 20


# -- attributes (MXNet's test_attr.py) -----------------------------------------------------------
def _contains(small, big):
    for k, v in small.items():
        if k not in big:
            return False
        if isinstance(v, dict):
            if not isinstance(big[k], dict) or not _contains(v, big[k]):
                return False
        elif big[k] != v:
            return False
    return True


def test_attr_basic():
    with mx.AttrScope(group="4", data="great"):
        data = mx.sym.Variable("data", attr={"dtype": "data", "group": "1",
                                             "force_mirroring": "True"}, lr_mult=1)
        gdata = mx.sym.Variable("data2")
    assert gdata.attr("group") == "4"
    assert data.attr("group") == "1"
    assert data.attr("lr_mult") == "1"
    assert data.attr("__lr_mult__") == "1"
    assert data.attr("force_mirroring") == "True"
    assert data.attr("__force_mirroring__") == "True"
    data2 = pickle.loads(pickle.dumps(data))
    assert data.attr("dtype") == data2.attr("dtype")


def test_operator_attrs_from_scopes():
    data = mx.sym.Variable("data")
    with mx.AttrScope(__group__="4", __data__="great"):
        fc1 = mx.sym.Activation(data, act_type="relu")
        with mx.AttrScope(__init_bias__="0.0"):
            fc2 = mx.sym.FullyConnected(fc1, num_hidden=10, name="fc2")
    assert fc1.attr("__data__") == "great"
    assert fc2.attr("__data__") == "great"
    assert fc2.attr("__init_bias__") == "0.0"
    fc2copy = pickle.loads(pickle.dumps(fc2))
    assert fc2copy.tojson() == fc2.tojson()
    assert fc2.get_internals()["fc2_weight"].attr("__init_bias__") == "0.0"


def test_list_attr():
    data = mx.sym.Variable("data", attr={"mood": "angry"})
    op = mx.sym.Convolution(data=data, name="conv", kernel=(1, 1), num_filter=1,
                            attr={"__mood__": "so so", "wd_mult": "x"})
    assert _contains({"__mood__": "so so", "wd_mult": "x", "__wd_mult__": "x"}, op.list_attr())


def test_attr_dict():
    data = mx.sym.Variable("data", attr={"mood": "angry"})
    op = mx.sym.Convolution(data=data, name="conv", kernel=(1, 1), num_filter=1,
                            attr={"__mood__": "so so"}, lr_mult=1)
    assert _contains({
        "data": {"mood": "angry"},
        "conv_weight": {"__mood__": "so so"},
        "conv": {"kernel": "(1, 1)", "__mood__": "so so", "num_filter": "1", "lr_mult": "1",
                 "__lr_mult__": "1"},
        "conv_bias": {"__mood__": "so so"}}, op.attr_dict())


def test_hidden_keywords_reach_the_auto_created_variables():
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=5, name="fc", lr_mult=2,
                               wd_mult=0.5, ctx_group="dev1", __foo__="bar")
    want = {"__lr_mult__": "2", "__wd_mult__": "0.5", "__ctx_group__": "dev1",
            "__foo__": "bar", "num_hidden": "5"}
    nodes = {n["name"]: n for n in json.loads(fc.tojson())["nodes"]}
    for name in ("fc", "fc_weight", "fc_bias"):
        assert nodes[name]["attrs"] == want
    assert "attrs" not in nodes["data"]
    assert fc.attr("lr_mult") == "2" and fc.attr("ctx_group") == "dev1"


def test_set_attr_is_checked_before_it_changes_anything():
    fc = mx.sym.FullyConnected(mx.sym.Variable("a"), num_hidden=3, name="fc")
    with pytest.raises(mx.base.MXNetError, match="num_hidden"):
        fc._set_attr(num_hidden="abc")
    with pytest.raises(mx.base.MXNetError, match="foo"):
        fc._set_attr(__ok__="1", foo="bar")
    assert fc.list_attr() == {"num_hidden": "3"}
    fc._set_attr(name="renamed", num_hidden="7")
    assert fc.name == "renamed" and fc.list_outputs() == ["renamed_output"]
    assert fc.infer_shape(a=(2, 4))[1] == [(2, 7)]


# -- optimizer multipliers from attributes ----------------------------------------------------
def test_lr_mult_and_wd_mult_keywords_reach_the_optimizer():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=4, name="fc1", lr_mult=0)
    fc2 = mx.sym.FullyConnected(fc1, num_hidden=3, name="fc2", attr={"lr_mult": "2"},
                                wd_mult=0.5)
    out = mx.sym.SoftmaxOutput(fc2, name="softmax")
    opt = mx.optimizer.create("sgd", sym=out, learning_rate=0.1,
                              param_idx2name=dict(enumerate(out.list_arguments())))
    assert opt.lr_mult == {"fc1_weight": 0.0, "fc1_bias": 0.0, "fc2_weight": 2.0,
                           "fc2_bias": 2.0}
    assert opt.wd_mult["fc2_weight"] == 0.5 and opt.wd_mult["fc2_bias"] == 0.5
    assert opt.wd_mult["fc1_bias"] == 0.0 and "fc1_weight" not in opt.wd_mult

    mod = mx.mod.Module(out, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (5, 6))], label_shapes=[("softmax_label", (5,))])
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    before = {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}
    rng = np.random.RandomState(0)
    batch = mx.io.DataBatch(data=[mx.nd.array(rng.rand(5, 6))],
                            label=[mx.nd.array([0, 1, 2, 0, 1])])
    mod.forward(batch, is_train=True)
    mod.backward()
    mod.update()
    after = mod.get_params()[0]
    assert np.array_equal(after["fc1_weight"].asnumpy(), before["fc1_weight"])
    assert np.array_equal(after["fc1_bias"].asnumpy(), before["fc1_bias"])
    assert not np.array_equal(after["fc2_weight"].asnumpy(), before["fc2_weight"])


def test_multipliers_survive_a_json_round_trip():
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc", lr_mult=3)
    again = mx.sym.load_json(fc.tojson())
    assert again.attr_dict()["fc_weight"]["__lr_mult__"] == "3"
    opt = mx.optimizer.create("sgd", sym=again,
                              param_idx2name=dict(enumerate(again.list_arguments())))
    assert opt.lr_mult["fc_weight"] == 3.0


# -- JSON ----------------------------------------------------------------------------------------
def test_tojson_graph_attributes():
    x = mx.sym.Variable("x")
    doc = json.loads(mx.sym.exp(x).tojson())
    assert doc["attrs"] == {"mxnet_version": ["int", 10901]}
    with mx.np_shape():
        doc = json.loads(mx.sym.exp(x).tojson())
    assert doc["attrs"] == {"is_np_shape": ["int", 1], "mxnet_version": ["int", 10901]}


def test_load_save_symbol_across_np_shape_modes(tmp_path):
    """MXNet's test_load_save_symbol: a file saved without NumPy-shape semantics keeps its 0
    dims unknown when loaded with them on."""
    def get_net():
        data = mx.sym.var("data")
        weight = mx.sym.var("weight", shape=(128, 0))
        return mx.sym.FullyConnected(data, weight, num_hidden=128)

    for flag1 in (False, True):
        with mx.np_shape(flag1):
            net_data = json.loads(get_net().tojson())
            assert "attrs" in net_data
            assert ("is_np_shape" in net_data["attrs"]) == flag1
        fname = tmp_path / f"sym{int(flag1)}.json"
        fname.write_text(json.dumps(net_data))
        if flag1:
            continue
        for flag2 in (False, True):
            with mx.np_shape(flag2):
                net = mx.sym.load(str(fname))
                arg_shapes, out_shapes, aux_shapes = net.infer_shape(data=(10, 784))
                assert arg_shapes == [(10, 784), (128, 784), (128,)]
                assert out_shapes == [(10, 128)] and aux_shapes == []


def test_save_and_remove_amp_cast(tmp_path):
    sym = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    for flag in (True, False):
        p = tmp_path / f"s{int(flag)}.json"
        sym.save(str(p), remove_amp_cast=flag)
        assert p.read_text() == sym.tojson(remove_amp_cast=flag) == sym.tojson()
        assert mx.sym.load(str(p)).tojson() == sym.tojson()
    with pytest.raises(TypeError):
        sym.save(3)


def test_copy_pickle_keep_the_json():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=10, lr_mult=2)
    for other in (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert other.tojson() == net.tojson()


# -- shapes (MXNet's test_infer_shape.py / test_symbol.py) ---------------------------------------
def test_symbol_infer_shape_partial():
    data = mx.sym.Variable("data")
    prev = mx.sym.Variable("prevstate")
    x2h = mx.sym.FullyConnected(data=data, name="x2h", num_hidden=128)
    h2h = mx.sym.FullyConnected(data=prev, name="h2h", num_hidden=128)
    out = mx.sym.Activation(data=mx.sym.elemwise_add(x2h, h2h), name="out", act_type="relu")
    with pytest.warns(UserWarning, match="Cannot decide shape"):
        assert out.infer_shape(data=(10, 64)) == (None, None, None)
    arg, out_shapes, _ = out.infer_shape_partial(data=(10, 64))
    arg_shapes = dict(zip(out.list_arguments(), arg))
    assert arg_shapes["data"] == (10, 64)
    assert arg_shapes["x2h_weight"] == (128, 64)
    assert arg_shapes["h2h_weight"] == ()
    arg, _, _ = out.infer_shape(data=(10, 64), prevstate=out_shapes[0])
    assert dict(zip(out.list_arguments(), arg))["h2h_weight"] == (128, 128)


def test_incomplete_infer_from_variable_shapes():
    a = mx.sym.Variable("a", shape=(0, 10))
    b = mx.sym.Variable("b", shape=(12, 0))
    arg_shapes, _, _ = (a + b).infer_shape()
    assert arg_shapes == [(12, 10), (12, 10)]
    a = mx.sym.Variable("a", shape=(0, 10))
    c = mx.sym.Variable("c", shape=(5, 0))
    d = mx.sym.FullyConnected(data=a, num_hidden=21) + c
    shapes = dict(zip(d.list_arguments(), d.infer_shape()[0]))
    assert shapes["a"] == (5, 10) and shapes["c"] == (5, 21)


def test_shape_completely_unknown():
    ret = mx.sym.sin(mx.sym.var("data"))
    arg_shapes, out_shapes, _ = ret.infer_shape_partial()
    assert arg_shapes[0] == () and out_shapes[0] == ()
    with mx.np_shape():
        ret = mx.sym.sin(mx.sym.var("data"))
        arg_shapes, out_shapes, _ = ret.infer_shape_partial()
        assert arg_shapes[0] is None and out_shapes[0] is None


def test_np_shape_zero_and_unknown_dims():
    with mx.np_shape(active=True):
        ret = mx.sym.sin(mx.sym.var("data", shape=(0, 2, 3)))
        arg_shapes, out_shapes, _ = ret.infer_shape()
        assert arg_shapes[0] == (0, 2, 3) and out_shapes[0] == (0, 2, 3)
        ret = mx.sym.sin(mx.sym.var("data", shape=(-1, 2, 3)))
        arg_shapes, out_shapes, _ = ret.infer_shape_partial()
        assert arg_shapes[0] == (-1, 2, 3) and out_shapes[0] == (-1, 2, 3)
    with mx.np_shape(active=False):
        ret = mx.sym.sin(mx.sym.var("data", shape=(0, 2, 3)))
        arg_shapes, out_shapes, _ = ret.infer_shape_partial()
        assert arg_shapes[0] == (0, 2, 3) and out_shapes[0] == (0, 2, 3)


def test_infer_type_partial_and_warning():
    data = mx.sym.Variable("data")
    mlp = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(
        mx.sym.Cast(data=data, dtype="float32"), name="fc1", num_hidden=8), name="softmax")
    arg, out, aux = mlp.infer_type(data=np.float16)
    assert arg == [np.float16, np.float32, np.float32, np.float32]
    assert out == [np.float32] and aux == []
    arg, out, aux = mlp.infer_type_partial()
    assert arg == [None, np.float32, np.float32, np.float32] and out == [np.float32]
    with pytest.warns(UserWarning, match="Cannot decide type"):
        assert mlp.infer_type() == (None, None, None)


# -- Symbol methods (MXNet's test_symbol.py) -----------------------------------------------------
def test_symbol_bool_and_ndarray_only_functions():
    x = mx.sym.Variable("x")
    with pytest.raises(mx.base.NotImplementedForSymbol):
        bool(x)
    for name in ("asnumpy", "asscalar", "copy", "detach", "backward", "wait_to_read",
                 "as_in_context"):
        with pytest.raises(mx.base.NotImplementedForSymbol, match=name):
            getattr(x, name)()
    y = x
    with pytest.raises(mx.base.NotImplementedForSymbol, match=r"\+="):
        y += 1
    assert x.as_nd_ndarray() is x
    for call in (lambda: x.as_np_ndarray(), lambda: x.gradient(["x"]),
                 lambda: x.optimize_for("MKLDNN"), lambda: x.get_backend_symbol("MKLDNN")):
        with pytest.raises(mx.base.UnsupportedError):
            call()


def test_symbol_children_and_internals():
    data = mx.sym.Variable("data")
    oldfc = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=10)
    net1 = mx.sym.FullyConnected(data=oldfc, name="fc2", num_hidden=100)
    assert net1.get_children().list_outputs() == ["fc1_output", "fc2_weight", "fc2_bias"]
    assert len(net1.get_children()) == 3
    assert net1.get_children().get_children().list_outputs() == \
        ["data", "fc1_weight", "fc1_bias"]
    assert net1.get_children()["fc2_weight"].list_arguments() == ["fc2_weight"]
    assert net1.get_children()["fc2_weight"].get_children() is None
    assert net1.get_internals()["fc1_output"].list_arguments() == oldfc.list_arguments()
    sliced = mx.sym.SliceChannel(data, num_outputs=3, name="slice")
    concat = mx.sym.Concat(*list(sliced))
    assert concat.get_children().list_outputs() == \
        ["slice_output0", "slice_output1", "slice_output2"]
    assert sliced.get_children().list_outputs() == ["data"]
    b = data + data
    assert [c.name for c in b.get_children()] == ["data", "data"]


def test_debug_str_matches_mxnet_layout():
    a = mx.sym.Variable("a")
    with mx.name.NameManager():
        d = mx.sym.FullyConnected(2 * a + mx.sym.sin(a), num_hidden=10)
    text = d.debug_str()
    assert text.startswith("Symbol Outputs:\n\toutput[0]=fullyconnected0(0)\nVariable:a\n")
    assert "Op:_mul_scalar, Name=_mulscalar0\nInputs:\n\targ[0]=a(0) version=0\nAttrs:\n" \
           "\tscalar=2\n" in text
    assert "Op:elemwise_add, Name=_plus0\nInputs:\n\targ[0]=_mulscalar0(0)\n" \
           "\targ[1]=sin0(0)\n" in text
    assert mx.sym.Variable("v").debug_str() == "Variable:v\n"


# -- mx.util --------------------------------------------------------------------------------------
def test_util_np_shape_scopes_and_flags():
    assert not mx.is_np_shape()
    assert mx.set_np_shape(True) is False
    try:
        assert mx.is_np_shape() and mx.util.is_np_shape()
    finally:
        assert mx.set_np_shape(False) is True
    with mx.np_shape():
        assert mx.is_np_shape()
        with mx.util.np_shape(False):
            assert not mx.is_np_shape()
        assert mx.is_np_shape()
    assert not mx.is_np_shape()

    @mx.use_np_shape
    class Scalar:
        def method(self):
            return mx.is_np_shape()

        @property
        def prop(self):
            return mx.is_np_shape()

        @staticmethod
        def static():
            return mx.is_np_shape()

        @classmethod
        def klass(cls):
            return mx.is_np_shape()

    s = Scalar()
    assert s.method() and s.prop and Scalar.static() and s.static() and Scalar.klass()
    assert not mx.is_np_shape()
    with pytest.raises(TypeError):
        mx.use_np_shape(3)


def test_util_np_array_semantics_are_unsupported():
    assert mx.is_np_array() is False
    with mx.np_array(False):
        assert not mx.is_np_array()
    for call in (lambda: mx.np_array(True), lambda: mx.use_np(lambda: 0),
                 lambda: mx.use_np_array(lambda: 0), lambda: mx.util.set_np()):
        with pytest.raises(mx.base.UnsupportedError, match="NumPy-array"):
            call()
    with pytest.raises(ValueError):
        mx.util.set_np(shape=False, array=True)
    mx.util.set_np(shape=True, array=False)
    assert mx.is_np_shape()
    mx.util.reset_np()
    assert not mx.is_np_shape()


def test_util_helpers(monkeypatch):
    monkeypatch.delenv("MXC_TEST_UTIL_VAR", raising=False)
    assert mx.util.getenv("MXC_TEST_UTIL_VAR") is None
    mx.util.setenv("MXC_TEST_UTIL_VAR", "x")
    assert mx.util.getenv("MXC_TEST_UTIL_VAR") == "x" == os.environ["MXC_TEST_UTIL_VAR"]
    mx.util.setenv("MXC_TEST_UTIL_VAR", None)
    assert mx.util.getenv("MXC_TEST_UTIL_VAR") is None

    import torch
    assert mx.util.get_gpu_count() == (torch.cuda.device_count()
                                       if torch.cuda.is_available() else 0)
    if mx.util.get_gpu_count() == 0:
        with pytest.raises(mx.base.MXNetError):
            mx.util.get_gpu_memory(0)
    else:
        free, total = mx.util.get_gpu_memory(0)
        assert 0 <= free <= total
        assert mx.util.get_cuda_compute_capability(mx.gpu(0)) >= 30
    with pytest.raises(ValueError):
        mx.util.get_cuda_compute_capability(mx.cpu())

    @mx.util.set_module("mxnet.foo")
    def f():
        pass
    assert f.__module__ == "mxnet.foo"
    assert mx.util.np_ufunc_legal_option("casting", "no")
    assert not mx.util.np_ufunc_legal_option("casting", "bad")
    assert mx.util.np_ufunc_legal_option("dtype", np.float32)

    unary = mx.util.wrap_np_unary_func(lambda x, out=None: (x, out))
    assert unary(1) == (1, None) and unary(1, where=True, casting="same_kind") == (1, None)
    with pytest.raises(TypeError):
        unary(1, foo=1)
    with pytest.raises(NotImplementedError):
        unary(1, casting="no")
    with pytest.raises(TypeError):
        unary(1, casting="bad")
    binary = mx.util.wrap_np_binary_func(lambda a, b, out=None: a + b)
    assert binary(1, 2, order="K") == 3
    with pytest.raises(NotImplementedError):
        binary(1, 2, order="C")
    assert mx.util.check_call(0) is None
    with pytest.raises(mx.base.MXNetError):
        mx.util.check_call(-1)
    assert mx.util.py_str(mx.util.c_str("abc").value) == "abc"
