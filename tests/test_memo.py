"""mxc.memo: one in-memory compile memo, named per owner, reported and cleared in one place."""
import threading

import mxc as mx
from mxc import memo


def test_every_compiling_place_uses_a_named_memo():
    x = mx.nd.ones((2, 3))
    (x + 1).asnumpy()
    s = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    ex = s.simple_bind(mx.cpu(), data=(2, 3))
    ex.forward()
    opt = mx.optimizer.SGD(learning_rate=0.1)
    opt.update(0, mx.nd.ones((3,)), mx.nd.ones((3,)), None)
    info = memo.info()
    for name in ("nd-ops", "executor", "optimizer"):
        assert info[name]["entries"] >= 1, (name, info)
    memo.clear("nd-ops")
    assert memo.info()["nd-ops"] == {"entries": 0, "hits": 0, "misses": 0}
    (x + 1).asnumpy()
    assert memo.info()["nd-ops"]["misses"] == 1


def test_a_key_is_made_once_under_concurrent_misses():
    m = memo.memo("test-concurrent")
    m.clear()
    made = []
    gate = threading.Barrier(4)

    def make():
        made.append(1)
        return object()

    def worker(out):
        gate.wait()
        out.append(m.get("k", make))

    outs = []
    ts = [threading.Thread(target=worker, args=(outs,)) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(made) == 1 and len({id(o) for o in outs}) == 1
    assert m.info() == {"entries": 1, "hits": 3, "misses": 1}


def test_a_bounded_memo_starts_over_when_full():
    m = memo.memo("test-bounded", limit=3)
    m.clear()
    for k in range(3):
        m.get(k, lambda k=k: f"v{k}")
    assert len(m) == 3 and m.get(0, lambda: "again") == "v0"
    m.get(3, lambda: "v3")          # the fourth entry: the memo forgets the others
    assert len(m) == 1 and m.get(0, lambda: "remade") == "remade"
