"""Dump the operator registry of the real MXNet 1.9.1 to tests/data/mxnet_ops.json.

Run with the reference venv (see ../shared/oracle/README.md):

    PY=$(../shared/oracle/setup.sh)
    $PY tools/dump_mxnet_ops.py

It asks libmxnet what python/mxnet/base.py and symbol/register.py ask when they generate
``mx.sym.<op>``: ``MXListAllOpNames`` for every registered name (aliases included), then
``NNGetOpHandle`` and ``MXSymbolGetAtomicSymbolInfo`` for each. Per operator name it records:

- ``real_name``: the canonical operator this name resolves to (``_Plus`` -> ``elemwise_add``);
  ``alias_of`` is set when the two differ, and ``aliases`` on a canonical op lists its other names;
- ``inputs``: the arguments typed ``NDArray-or-Symbol`` (``[]`` suffix: variadic), in order;
- ``params``: every other argument with MXNet's documented type string (for example
  ``"boolean, optional, default=0"``), split into ``type``, ``required`` and ``default``;
- ``key_var_num_args`` (for variadic ops such as Concat: ``num_args``) and ``return_type``;
- ``python``: the module and function under which MXNet 1.9.1 exposes the name, and the
  automatic-name hint the generated function passes to NameManager (``func_name.lower()``);
- ``description``: the first paragraph of the operator's documentation.

The output is sorted by name and deterministic.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys

import mxnet as mx
from mxnet.base import _LIB, _OP_NAME_PREFIX_LIST, OpHandle, c_str, check_call, mx_uint, py_str

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "mxnet_ops.json")

NP_PREFIXES = ("_np_", "_npi_", "_npx_")

_TYPE_RE = re.compile(
    r"^(?P<type>.*?),\s*(?:(?P<required>required)|optional,\s*default=(?P<default>.*))$", re.DOTALL
)


def all_op_names():
    plist = ctypes.POINTER(ctypes.c_char_p)()
    size = ctypes.c_uint()
    check_call(_LIB.MXListAllOpNames(ctypes.byref(size), ctypes.byref(plist)))
    return sorted(py_str(plist[i]) for i in range(size.value))


def op_info(name):
    hdl = OpHandle()
    check_call(_LIB.NNGetOpHandle(c_str(name), ctypes.byref(hdl)))
    real_name = ctypes.c_char_p()
    desc = ctypes.c_char_p()
    num_args = mx_uint()
    arg_names = ctypes.POINTER(ctypes.c_char_p)()
    arg_types = ctypes.POINTER(ctypes.c_char_p)()
    arg_descs = ctypes.POINTER(ctypes.c_char_p)()
    key_var_num_args = ctypes.c_char_p()
    ret_type = ctypes.c_char_p()
    check_call(
        _LIB.MXSymbolGetAtomicSymbolInfo(
            hdl,
            ctypes.byref(real_name),
            ctypes.byref(desc),
            ctypes.byref(num_args),
            ctypes.byref(arg_names),
            ctypes.byref(arg_types),
            ctypes.byref(arg_descs),
            ctypes.byref(key_var_num_args),
            ctypes.byref(ret_type),
        )
    )
    n = int(num_args.value)
    return {
        "real_name": py_str(real_name.value),
        "desc": py_str(desc.value) if desc.value is not None else "",
        "args": [
            (py_str(arg_names[i]), py_str(arg_types[i]), py_str(arg_descs[i])) for i in range(n)
        ],
        "key_var_num_args": py_str(key_var_num_args.value) if key_var_num_args.value else "",
        "return_type": py_str(ret_type.value) if ret_type.value is not None else "",
    }


def parse_type(type_str):
    m = _TYPE_RE.match(type_str.strip())
    if not m:
        return {"type": type_str.strip(), "required": None, "default": None}
    return {
        "type": m.group("type").strip(),
        "required": m.group("required") is not None,
        "default": None if m.group("default") is None else m.group("default").strip(),
    }


def python_location(name):
    """Where mxnet/base.py::_init_op_module puts the generated function, and its name hint."""
    if name.startswith(NP_PREFIXES):
        return {"module": None, "function": None, "name_hint": None, "note": "numpy-interface op"}
    prefix = next((p for p in _OP_NAME_PREFIX_LIST if name.startswith(p)), "")
    if prefix and (prefix != "_random_" or name.endswith("_like")):
        func, module = name[len(prefix) :], "mxnet.symbol." + prefix[1:-1]
    elif prefix or name.startswith("_"):
        func, module = name, "mxnet.symbol._internal"
    else:
        func, module = name, "mxnet.symbol.op"
    return {"module": module, "function": func, "name_hint": func.lower()}


def first_paragraph(text):
    text = text.strip()
    para = re.split(r"\n\s*\n", text, maxsplit=1)[0] if text else ""
    return " ".join(para.split())


def main():
    names = all_op_names()
    ops = {}
    for name in names:
        info = op_info(name)
        inputs, params = [], []
        for arg, atype, adesc in info["args"]:
            if atype.startswith(("NDArray", "Symbol")):
                inputs.append(
                    {
                        "name": arg,
                        "type": atype,
                        "variadic": atype.endswith("[]"),
                        "description": " ".join(adesc.split()),
                    }
                )
            else:
                rec = {"name": arg, "type_str": atype}
                rec.update(parse_type(atype))
                rec["description"] = " ".join(adesc.split())
                params.append(rec)
        real = info["real_name"]
        ops[name] = {
            "real_name": real,
            "alias_of": real if real != name else None,
            "aliases": [],
            "is_np_op": name.startswith(NP_PREFIXES),
            "inputs": inputs,
            "params": params,
            "key_var_num_args": info["key_var_num_args"],
            "return_type": info["return_type"],
            "python": python_location(name),
            "description": first_paragraph(info["desc"]),
        }
    for name, rec in ops.items():
        if rec["alias_of"] is not None and rec["alias_of"] in ops:
            ops[rec["alias_of"]]["aliases"].append(name)
    out = {
        "mxnet_version": mx.__version__,
        "source": "MXListAllOpNames + MXSymbolGetAtomicSymbolInfo (tools/dump_mxnet_ops.py)",
        "num_ops": len(ops),
        "ops": ops,
    }
    # one operator per line: compact, and diffs between regenerations stay readable
    head = json.dumps({k: v for k, v in out.items() if k != "ops"})[:-1]
    lines = [f"{json.dumps(k)}: {json.dumps(v, sort_keys=False)}" for k, v in ops.items()]
    text = head + ', "ops": {\n' + ",\n".join(lines) + "\n}}\n"
    assert json.loads(text) == out
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, OUT)
    n_alias = sum(1 for r in ops.values() if r["alias_of"])
    print(
        f"{os.path.relpath(OUT, ROOT)}: {len(ops)} names, {n_alias} aliases, "
        f"{os.path.getsize(OUT)} bytes"
    )


if __name__ == "__main__":
    sys.exit(main())
