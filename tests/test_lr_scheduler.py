"""mx.lr_scheduler against MXNet 1.9.1: the learning rate at each num_update and the log lines
(tests/data/optimizer_golden.npz, sched/*, written by tools/make_optimizer_golden.py)."""
import json
import logging
import os
import pickle

import numpy as np
import pytest

from runtime import lr_scheduler as lrs
from runtime import optimizer as opt

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "optimizer_golden.npz")


def _golden():
    with np.load(GOLDEN) as d:
        return json.loads(str(d["sched"]))


_GOLDEN = _golden()


@pytest.mark.parametrize("case", sorted(_GOLDEN))
def test_matches_mxnet(case, caplog):
    cfg = _GOLDEN[case]
    calls, want, log = cfg["calls"], cfg["lrs"], cfg["log"]
    sched = getattr(lrs, cfg["cls"])(**cfg["kwargs"])
    with caplog.at_level(logging.INFO):
        got = [sched(n) for n in calls]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0, err_msg=case)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == log


def test_errors_match_mxnet():
    with pytest.raises(ValueError, match="Base lr has to be higher than warmup_begin_lr"):
        lrs.FactorScheduler(step=2, base_lr=0.01, warmup_begin_lr=0.1)
    with pytest.raises(ValueError, match="Supports only linear and constant modes of warmup"):
        lrs.PolyScheduler(10, warmup_mode="cosine")
    with pytest.raises(ValueError, match="Schedule step must be greater or equal than 1 round"):
        lrs.FactorScheduler(step=0)
    with pytest.raises(ValueError, match="Factor must be no more than 1"):
        lrs.MultiFactorScheduler(step=[2, 3], factor=2)
    with pytest.raises(ValueError, match="increasing integer list"):
        lrs.MultiFactorScheduler(step=[3, 3])
    with pytest.raises(ValueError, match="strictly positive"):
        lrs.CosineScheduler(0)
    with pytest.raises(NotImplementedError):
        lrs.LRScheduler()(1)


def test_optimizer_drives_the_scheduler():
    """The optimizer asks the scheduler at num_update, after counting the update."""
    import mxc as mx
    s = lrs.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    o = opt.SGD(lr_scheduler=s)
    w, g = mx.nd.zeros((35,)), mx.nd.ones((35,))
    seen = []
    for _ in range(5):
        o.update(0, w, g, None)
        seen.append(o.learning_rate)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    # steps of 1, 1, 0.5, 0.5, 0.25 (the rate is read after counting the update)
    np.testing.assert_allclose(w.asnumpy(), -3.25, rtol=1e-6)
    # learning_rate overrides the scheduler's base_lr, as in MXNet
    s2 = lrs.CosineScheduler(10, base_lr=0.3)
    opt.SGD(lr_scheduler=s2, learning_rate=0.2)
    assert s2.base_lr == 0.2


def test_pickles_with_mxnet_attribute_names():
    s = lrs.MultiFactorScheduler(step=[2, 4], factor=0.1, base_lr=1.0)
    s(3)
    s2 = pickle.loads(pickle.dumps(s))
    assert vars(s2) == vars(s)
    assert set(vars(s)) == {"base_lr", "warmup_steps", "warmup_final_lr", "warmup_begin_lr",
                            "warmup_mode", "step", "cur_step_ind", "factor", "count"}
    assert s2(5) == pytest.approx(0.01)
