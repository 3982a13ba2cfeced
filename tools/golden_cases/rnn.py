"""The fused RNN operator (layout TNC, MXNet's packed parameter vector)."""
from golden_cases import Case


def _rnn(mode, t, n, i, h, layers=1, bidir=False, state_outputs=False, name="", p=None, **kw):
    d = 2 if bidir else 1
    g = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}[mode]
    size = sum(g * h * ((i if layer == 0 else d * h) + h + 2) * d for layer in range(layers))
    inputs = {"data": (t, n, i), "parameters": (size,), "state": (layers * d, n, h)}
    if mode == "lstm":
        inputs["state_cell"] = (layers * d, n, h)
    attrs = {"mode": mode, "state_size": h, "num_layers": layers}
    if bidir:
        attrs["bidirectional"] = True
    if state_outputs:
        attrs["state_outputs"] = True
    if p is not None:
        attrs["p"] = p
    # small weights keep the recurrences away from saturation; a slow interpreter wants few
    # steps (the Triton interpreter runs every kernel of every step)
    return Case("RNN", inputs, attrs, name=name, ranges={"parameters": (-0.6, 0.6)},
                rtol=1e-4, atol=2e-5, grad_rtol=1e-3, grad_atol=5e-5, **kw)


CASES = [
    _rnn("lstm", 3, 2, 4, 3, name="lstm"),
    _rnn("lstm", 4, 3, 3, 5, state_outputs=True, name="lstm_states"),
    _rnn("lstm", 3, 2, 3, 4, layers=2, name="lstm_2layer"),
    _rnn("lstm", 3, 2, 4, 3, bidir=True, state_outputs=True, name="lstm_bidir"),
    _rnn("lstm", 2, 2, 3, 2, layers=2, bidir=True, state_outputs=True, name="lstm_2layer_bidir"),
    _rnn("gru", 3, 2, 4, 3, name="gru"),
    _rnn("gru", 4, 3, 2, 4, state_outputs=True, name="gru_states"),
    _rnn("gru", 2, 2, 3, 3, layers=2, bidir=True, state_outputs=True, name="gru_2layer_bidir"),
    _rnn("rnn_tanh", 4, 3, 3, 4, name="rnn_tanh"),
    _rnn("rnn_tanh", 3, 2, 3, 3, layers=2, state_outputs=True, name="rnn_tanh_2layer"),
    _rnn("rnn_tanh", 3, 2, 2, 3, bidir=True, state_outputs=True, name="rnn_tanh_bidir"),
    _rnn("rnn_relu", 3, 2, 3, 4, layers=2, bidir=True, name="rnn_relu_2layer_bidir"),
    # dropout between layers is the identity at inference (forward only)
    _rnn("lstm", 2, 2, 3, 3, layers=2, p=0.5, grad=False, name="lstm_dropout_inference"),
]
