"""The mxc command line: dump and run."""
import os

from mxc.cli import main

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_dump_prints_stages_kernels_memory(capsys):
    path = os.path.join(DATA, "symbols", "mlp-symbol.json")
    assert main(["dump", path, "--shape", "data=64,784", "--kernels", "--memory",
                 "--why-no-fuse"]) == 0
    out = capsys.readouterr().out
    for stage in ("input", "infer", "decompose", "simplify", "cse", "dce", "fuse", "program",
                  "memory"):
        assert out.count(f"// ---- {stage} ----") == 1, stage
    assert "kernel k0_fc1_relu1" in out and 'define void @"k0_fc1_relu1"' in out
    assert "memory plan @softmax" in out and "materialize" in out


def test_dump_one_pass_and_triton(capsys):
    path = os.path.join(DATA, "symbols", "mlp-symbol.json")
    assert main(["dump", path, "--shape", "data=2,784", "--after", "fuse", "--kernels",
                 "--target", "triton"]) == 0
    out = capsys.readouterr().out
    assert "// ---- fuse ----" in out and "// ---- infer ----" not in out
    assert "@triton.jit" in out


def test_dump_after_a_pass_run_twice(capsys):
    # the pipeline runs CSE twice: the second is cse#2
    path = os.path.join(DATA, "symbols", "mlp-symbol.json")
    assert main(["dump", path, "--shape", "data=2,784", "--after", "cse#2"]) == 0
    assert "// ---- cse#2 ----" in capsys.readouterr().out
    assert main(["dump", path, "--shape", "data=2,784", "--after", "cse#3"]) == 2
    assert "cse#2" in capsys.readouterr().err


def test_dump_after_the_program_and_memory_stages(capsys):
    # the stages go on past the passes: the program (kernels lowered, steps in order) and its
    # memory plan, each shown alone with --after
    path = os.path.join(DATA, "symbols", "mlp-symbol.json")
    assert main(["dump", path, "--shape", "data=2,784", "--after", "program"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("// ---- program ----\nprogram @") and "= kernel k0_" in out
    assert "memory plan" not in out and "graph @" not in out
    assert main(["dump", path, "--shape", "data=2,784", "--after", "memory"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("// ---- memory ----\nmemory plan @") and "@ arena+" in out
    assert main(["dump", path, "--shape", "data=2,784", "--after", "lowering"]) == 2
    assert "program, memory" in capsys.readouterr().err


def test_run_with_params(capsys):
    g = os.path.join(DATA, "golden")
    assert main(["run", os.path.join(g, "mlp_digits-symbol.json"), "--shape", "data=32,64",
                 "--params", os.path.join(g, "mlp_digits-0000.params"), "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert "softmax_output: shape (32, 10)" in out


def test_bad_input_is_a_clear_error(capsys, tmp_path):
    p = tmp_path / "x-symbol.json"
    p.write_text("{}")
    assert main(["dump", str(p), "--shape", "data=1,2"]) == 2
    assert "missing key(s)" in capsys.readouterr().err


def test_run_profile_lists_steps_and_operators(capsys):
    g = os.path.join(DATA, "golden")
    assert main(["run", os.path.join(g, "mlp_digits-symbol.json"), "--shape", "data=32,64",
                 "--repeat", "2", "--train", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "by operator" in out and "extern dot" in out
    steps = [ln for ln in out.splitlines() if ln.startswith("k") and " kernel " in ln]
    assert steps, out
    total = float(out.rstrip().splitlines()[-1].split()[-1])
    assert total > 0
