"""Operator definitions, one module per family. Importing this package registers them all."""
from . import elemwise, fused, nn, reduce, shape  # noqa: F401
from . import im2col, indexing, linalg, loss, nn_layers, rnn, sorting  # noqa: F401
from . import random  # noqa: F401
from . import classic, linalg2  # noqa: F401
from . import custom  # noqa: F401
from . import spatial  # noqa: F401
from . import detection  # noqa: F401
from . import seqmisc  # noqa: F401
from . import amp  # noqa: F401
from . import optimizer  # noqa: F401
from . import deformable  # noqa: F401
