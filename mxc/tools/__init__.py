"""Command-line tools shipped with mxc (``python -m mxc.tools.NAME`` or ``mxc NAME``)."""
