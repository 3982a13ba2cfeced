"""mxc.gcpause: the collector is off inside compilations and comes back as it was."""
import gc
import threading

from mxc.gcpause import paused


def test_nested_pauses_restore_the_collector_once():
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()          # the outer pause still holds
    assert gc.isenabled()


def test_a_pause_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_inside_still_restores_the_collector():
    try:
        with paused():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()


def test_concurrent_pauses_end_with_the_last_one():
    inside, release = threading.Event(), threading.Event()

    def other():
        with paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with paused():
        pass
    assert not gc.isenabled()              # the other thread's pause is still running
    release.set()
    t.join()
    assert gc.isenabled()


def test_passes_run_with_the_collector_paused():
    from mxc.ir import Builder, TensorType
    from mxc.compile import compile_graph, default_passes
    from mxc.passes.base import Pass

    seen = []

    class Probe(Pass):
        name = "probe"

        def run(self, g, ctx):
            seen.append(gc.isenabled())
            return g

    b = Builder("g")
    x = b.input("x", TensorType((4,)))
    g = b.build([b.op("exp", [x])])
    compile_graph(g, passes=default_passes()[:1] + [Probe()] + default_passes()[1:])
    assert seen == [False] and gc.isenabled()
