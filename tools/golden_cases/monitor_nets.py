"""The networks tests/test_monitor.py watches with a Monitor and tools/make_monitor_golden.py
records in MXNet 1.9.1 (imported by both; ``mx`` is mxnet or mxc).

``build_nets(mx)`` -> {name: (symbol, data shape, number of classes, uncomputed)}, where
``uncomputed`` lists the monitor names whose values MXNet reports without computing them
(uninitialized memory: the gradient of the data, which the Module does not ask for, a label's
gradient, max pooling's workspace); their names and order are compared, not their values.
"""


def build_nets(mx):
    nets = {}
    x = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(x, num_hidden=6, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=5, name="fc2")
    h = mx.sym.Activation(h, act_type="sigmoid", name="sig2")
    h = mx.sym.FullyConnected(h, num_hidden=3, name="fc3")
    nets["mlp"] = (mx.sym.SoftmaxOutput(h, name="softmax"), (4, 7), 3,
                   ("fc1_backward_output0", "softmax_backward_output1"))
    x = mx.sym.Variable("data")
    c = mx.sym.Convolution(x, kernel=(3, 3), num_filter=4, name="conv1")
    c = mx.sym.BatchNorm(c, fix_gamma=False, name="bn1")
    c = mx.sym.Activation(c, act_type="relu", name="relu1")
    c = mx.sym.Pooling(c, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    c = mx.sym.Flatten(c, name="flat")
    c = mx.sym.FullyConnected(c, num_hidden=5, name="fc1")
    nets["convnet"] = (mx.sym.SoftmaxOutput(c, name="softmax"), (4, 2, 8, 8), 5,
                       ("conv1_backward_output0", "softmax_backward_output1",
                        "pool1_workspace"))
    return nets
