"""mxc's runtime: executors running compiled plans, and MXNet's Module hierarchy with io,
metric, optimizer, initializer, callback and kvstore. Users reach it through ``mxc``
(``mx.mod.Module`` is ``runtime.module.Module``)."""
