"""AMP golden data from MXNet 1.9.1 (run with the oracle python):

- tests/data/amp/<model>.json: ``amp.convert_symbol(...).tojson(remove_amp_cast=False)`` for
  the models of tools/amp_models.py;
- tests/data/amp/casts.npz: amp_cast of float32 values to bfloat16 and float16 (read back as
  float32), and amp_multicast results.
"""
import os
import sys

import mxnet as mx
import numpy as np
from mxnet.contrib import amp

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "amp")
sys.path.insert(0, HERE)
import amp_models

BF16 = np.dtype([("bfloat16", np.uint16)])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (sym, kw) in amp_models.build(mx).items():
        kw = dict(kw)
        try:
            c = amp.convert_symbol(sym, **kw)
        except mx.base.MXNetError as e:      # MXNet's own pass refuses some mixes
            print("skip", name, str(e).splitlines()[0][:120])
            continue
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            f.write(c.tojson(remove_amp_cast=False))
    rng = np.random.RandomState(0)
    x = np.concatenate([rng.randn(200) * 10.0 ** rng.uniform(-6, 6, 200),
                        [0.0, -0.0, 1.0, 65504.0, 70000.0, 1e30, 3.3, 1.1, 2 ** -130]])
    x = x.astype(np.float32)
    a = mx.nd.array(x)
    res = {"x": x}
    res["to_bf16"] = mx.nd.amp_cast(mx.nd.amp_cast(a, dtype=BF16), dtype="float32").asnumpy()
    res["to_f16"] = mx.nd.amp_cast(a, dtype="float16").asnumpy().astype(np.float32)
    # gradient of amp_cast f32 -> bf16 -> f32: the head gradient cast to bf16 and back
    s = mx.sym.var("x")
    y = mx.sym.amp_cast(mx.sym.amp_cast(s, dtype=BF16), dtype="float32")
    e = y.simple_bind(mx.cpu(), x=x.shape)
    e.arg_dict["x"][:] = a
    e.forward(is_train=True)
    head = (rng.randn(*x.shape) * 3).astype(np.float32)
    e.backward(mx.nd.array(head))
    res["head"] = head
    res["grad_bf16"] = e.grad_dict["x"].asnumpy()
    # multicast bf16 + f32 (MXNet's CPU kernels run it through oneDNN)
    b = mx.nd.amp_cast(a, dtype=BF16)
    m = mx.nd.amp_multicast(b, a, num_outputs=2)
    res["multicast_wide"] = m[0].asnumpy()
    n = mx.nd.amp_multicast(b, a, num_outputs=2, cast_narrow=True)
    res["multicast_narrow_1"] = mx.nd.amp_cast(n[1], dtype="float32").asnumpy()
    np.savez(os.path.join(OUT, "casts.npz"), **res)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
