"""Layers point one way: the compiler core (mxc/ir, mxc/passes, mxc/codegen, mxc/compile.py)
imports no frontend (mxc.symbol, mxc.ndarray, mxc.operator ...) and no runtime, at any depth,
and torch only inside the functions that call it; its module-level imports have no cycle. The
runtime reaches NDArray storage only through NDArray's public accessors, never ``._t``."""
import ast
import os
import re

import networkx as nx

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORE = ("mxc/ir", "mxc/passes", "mxc/codegen", "mxc/compile.py")
FRONTENDS = ("mxc.symbol", "mxc.ndarray", "mxc.operator", "mxc.module", "mxc.io",
             "mxc.executor", "mxc.context", "mxc.model", "mxc.image", "mxc.recordio",
             "mxc.contrib", "runtime")


def _core_files():
    for c in CORE:
        p = os.path.join(ROOT, c)
        if p.endswith(".py"):
            yield p
            continue
        for d, _, fs in os.walk(p):
            for f in sorted(fs):
                if f.endswith(".py"):
                    yield os.path.join(d, f)


def _module(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _imports(path):
    """(imported module, line, at module level) for every import in the file."""
    mod = _module(path)
    pkg = mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]
    tree = ast.parse(open(path, encoding="utf-8").read())
    top = {id(n) for n in tree.body}
    # imports under `if TYPE_CHECKING:` at module level do not run
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            top |= {id(m) for m in ast.walk(n)}
            for m in ast.walk(n):
                if isinstance(m, (ast.Import, ast.ImportFrom)):
                    m.type_checking = True
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts) + ("." + node.module if node.module else "")
            names = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        if getattr(node, "type_checking", False):
            continue
        for n in names:
            yield n, node.lineno, id(node) in top


def test_core_imports_no_frontend_or_runtime():
    bad = [f"{os.path.relpath(p, ROOT)}:{line}: {name}"
           for p in _core_files() for name, line, _ in _imports(p)
           if name.startswith(FRONTENDS)]
    assert not bad, "the compiler core reaches up into a frontend or the runtime:\n" + \
        "\n".join(bad)


def test_core_imports_torch_only_where_it_is_called():
    bad = [f"{os.path.relpath(p, ROOT)}:{line}" for p in _core_files()
           for name, line, top in _imports(p) if top and name.split(".")[0] == "torch"]
    assert not bad, "module-level torch imports in the compiler core: " + ", ".join(bad)


def test_core_module_imports_have_no_cycle():
    files = list(_core_files())
    mods = {_module(p) for p in files}
    g = nx.DiGraph()
    for p in files:
        src = _module(p)
        g.add_node(src)
        for name, _, top in _imports(p):
            if not top:
                continue
            # `from .x import y` names a module or an attribute of a package
            tgt = name if name in mods else name.rsplit(".", 1)[0]
            if tgt in mods and tgt != src and not src.startswith(tgt + "."):
                g.add_edge(src, tgt)
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles in the compiler core: {cycles[:5]}"


_PRIVATE_STORAGE = re.compile(r"\._t\b")


def test_runtime_reaches_ndarray_storage_only_through_public_accessors():
    """runtime/ uses NDArray.torch_tensor() / from_torch() / adopt_storage(), never ``._t``."""
    bad = []
    for d, _, fs in os.walk(os.path.join(ROOT, "runtime")):
        for f in sorted(fs):
            if not f.endswith(".py"):
                continue
            p = os.path.join(d, f)
            with open(p, encoding="utf-8") as fh:
                for i, line in enumerate(fh, 1):
                    if _PRIVATE_STORAGE.search(line):
                        bad.append(f"{os.path.relpath(p, ROOT)}:{i}: {line.strip()}")
    assert not bad, ("runtime/ reads NDArray's private storage attribute `._t`; use "
                     "NDArray.torch_tensor() (read, no copy), NDArray.from_torch(tensor, ctx) "
                     "(wrap) or NDArray.adopt_storage(other) (rebind):\n" + "\n".join(bad))
