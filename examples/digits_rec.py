"""Digits from RecordIO: train a convnet on JPEG records with ``mx.io.ImageRecordIter``, the way
MXNet's example/image-classification (``train_*.py`` + ``common/fit.py`` + ``common/data.py``)
does, compiled by mxc.

    python examples/digits_rec.py [--num-epochs 10] [--batch-size 64] [--lr 0.1]
                                  [--lr-step-epochs 6,9] [--model-prefix out/digits_rec]
                                  [--data-nthreads 2] [--kv-store local]

The data are mxc/data/digits_{train,test}.rec: scikit-learn's 8x8 digits as greyscale JPEGs,
packed by ``mxc im2rec`` (tools/make_digits_rec.py). As in ``common/data.py``, the training
iterator shuffles and augments (``pad=1`` + ``rand_crop``: random shifts of up to one pixel;
``max_random_scale`` / ``min_random_scale``, ``max_rotate_angle``), reads its share of the file
with ``num_parts`` / ``part_index`` from the kvstore, and both iterators scale pixels by
1/255. As in ``common/fit.py``: Xavier initialisation, SGD with momentum and weight decay, a
``MultiFactorScheduler`` stepping the learning rate down at ``--lr-step-epochs``, Speedometer
logging, a checkpoint per epoch, ``accuracy`` and ``top_k_accuracy`` on the test records.
"""
import argparse
import logging
import os
import sys
import time

import numpy as np

import mxc as mx

DATA = os.path.join(os.path.dirname(mx.__file__), "data")


def get_symbol(num_classes=10):
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=32, name="conv1")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=32, name="conv2")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=64, name="conv3")
    net = mx.sym.Activation(net, act_type="relu", name="relu3")
    net = mx.sym.Pooling(net, pool_type="avg", kernel=(4, 4), global_pool=True, name="gap")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=num_classes, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def get_rec_iter(args, kv):
    """common/data.py's get_rec_iter: the train iterator augments and shuffles."""
    rank, nworker = (kv.rank, kv.num_workers) if kv else (0, 1)
    image_shape = tuple(int(x) for x in args.image_shape.split(","))
    train = mx.io.ImageRecordIter(
        path_imgrec=args.data_train, path_imgidx=args.data_train_idx, label_width=1,
        data_name="data", label_name="softmax_label", data_shape=image_shape,
        batch_size=args.batch_size, pad=args.pad, fill_value=0, rand_crop=args.random_crop,
        max_random_scale=args.max_random_scale, min_random_scale=args.min_random_scale,
        max_rotate_angle=args.max_random_rotate_angle, rand_mirror=args.random_mirror,
        scale=1 / 255.0, preprocess_threads=args.data_nthreads, shuffle=True,
        num_parts=nworker, part_index=rank, verbose=False)
    val = mx.io.ImageRecordIter(
        path_imgrec=args.data_val, label_width=1, data_name="data",
        label_name="softmax_label", batch_size=args.batch_size, data_shape=image_shape,
        scale=1 / 255.0, preprocess_threads=args.data_nthreads, rand_crop=False,
        rand_mirror=False, num_parts=nworker, part_index=rank, verbose=False)
    return train, val


def _lr_scheduler(args, kv, num_examples):
    epoch_size = num_examples // args.batch_size
    if kv and "dist" in kv.type:
        epoch_size //= kv.num_workers
    steps = [epoch_size * int(x) for x in args.lr_step_epochs.split(",") if x.strip()]
    steps = [s for s in steps if s > 0]
    if not steps:
        return args.lr, None
    return args.lr, mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor)


def fit(args, network, data_loader):
    """common/fit.py's fit, for one machine or a kvstore."""
    kv = mx.kvstore.create(args.kv_store)
    head = "%(asctime)-15s Node[" + str(kv.rank) + "] %(message)s"
    logging.basicConfig(level=logging.INFO, format=head)
    logging.info("start with arguments %s", args)
    train, val = data_loader(args, kv)
    lr, lr_scheduler = _lr_scheduler(args, kv, args.num_examples)
    model = mx.mod.Module(context=mx.cpu(), symbol=network)
    optimizer_params = {"learning_rate": lr, "wd": args.wd, "momentum": args.mom,
                        "multi_precision": True}
    if lr_scheduler is not None:
        optimizer_params["lr_scheduler"] = lr_scheduler
    checkpoint = mx.callback.do_checkpoint(args.model_prefix) if args.model_prefix else None
    eval_metrics = ["accuracy", mx.metric.create("top_k_accuracy", top_k=args.top_k)]
    batch_end = [mx.callback.Speedometer(args.batch_size, args.disp_batches)]
    initializer = mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)
    t0 = time.time()
    model.fit(train, begin_epoch=0, num_epoch=args.num_epochs, eval_data=val,
              eval_metric=eval_metrics, kvstore=kv, optimizer=args.optimizer,
              optimizer_params=optimizer_params, initializer=initializer,
              batch_end_callback=batch_end, epoch_end_callback=checkpoint,
              allow_missing=True)
    logging.info("training took %.1f s", time.time() - t0)
    val.reset()
    return dict(model.score(val, ["accuracy"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-train", default=os.path.join(DATA, "digits_train.rec"))
    p.add_argument("--data-train-idx", default=os.path.join(DATA, "digits_train.idx"))
    p.add_argument("--data-val", default=os.path.join(DATA, "digits_test.rec"))
    p.add_argument("--image-shape", default="1,8,8")
    p.add_argument("--num-examples", type=int, default=1500)
    p.add_argument("--num-epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--lr-factor", type=float, default=0.1)
    p.add_argument("--lr-step-epochs", default="6,9")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--mom", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--pad", type=int, default=1)
    p.add_argument("--random-crop", type=int, default=1)
    p.add_argument("--random-mirror", type=int, default=0)
    p.add_argument("--max-random-scale", type=float, default=1.1)
    p.add_argument("--min-random-scale", type=float, default=0.9)
    p.add_argument("--max-random-rotate-angle", type=int, default=8)
    p.add_argument("--data-nthreads", type=int, default=2)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--disp-batches", type=int, default=10)
    p.add_argument("--kv-store", default="local")
    p.add_argument("--model-prefix", default=os.path.join("out", "digits_rec"))
    p.add_argument("--min-accuracy", type=float, default=0.9)
    args = p.parse_args(argv)
    if args.model_prefix:
        os.makedirs(os.path.dirname(args.model_prefix) or ".", exist_ok=True)
    mx.random.seed(7)
    np.random.seed(7)
    scores = fit(args, get_symbol(), get_rec_iter)
    acc = scores["accuracy"]
    print(f"test accuracy {acc:.4f} on {args.data_val}")
    ok = acc >= args.min_accuracy
    print("OK" if ok else f"FAILED: accuracy below {args.min_accuracy}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
