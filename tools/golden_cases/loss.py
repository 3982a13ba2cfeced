"""Loss layers (backward without head gradients: ``loss=True``) and loss functions."""
from golden_cases import Case

LAB = ("label",)

CASES = [
    # regression outputs: gradient grad_scale / (label.size / label.shape[0]) * f(out, label)
    Case("LinearRegressionOutput", {"data": (4, 3), "label": (4, 3)}, loss=True, no_grad=LAB,
         name="linreg"),
    Case("LinearRegressionOutput", {"data": (5, 1), "label": (5,)}, {"grad_scale": 2.0},
         loss=True, no_grad=LAB, name="linreg_1d_label"),
    Case("LinearRegressionOutput", {"data": (2, 3, 2), "label": (2, 6)}, {"grad_scale": 0.5},
         loss=True, no_grad=LAB, name="linreg_3d"),
    Case("LogisticRegressionOutput", {"data": (4, 3), "label": (4, 3)}, loss=True,
         ranges={"label": (0.0, 1.0)}, no_grad=LAB, name="logreg"),
    Case("LogisticRegressionOutput", {"data": (6,), "label": (6,)}, {"grad_scale": 3.0},
         loss=True, ints={"label": 2}, no_grad=LAB, name="logreg_1d"),
    # integer-valued data and label: many ties, where MXNet's sign gives -1
    Case("MAERegressionOutput", {"data": (4, 5), "label": (4, 5)}, loss=True,
         ints={"data": 3, "label": 3}, no_grad=LAB, name="maereg_ties"),
    Case("MAERegressionOutput", {"data": (3, 4), "label": (3, 4)}, {"grad_scale": 2.0},
         loss=True, no_grad=LAB, name="maereg"),
    # MakeLoss: grad_scale, normalized by rows of the 2-d flattened data or by valid count
    Case("MakeLoss", {"data": (3, 4)}, loss=True, name="makeloss"),
    Case("MakeLoss", {"data": (3, 4)}, {"grad_scale": 0.5}, loss=True, name="makeloss_scale"),
    Case("MakeLoss", {"data": (2, 3, 4)}, {"normalization": "batch", "grad_scale": 3.0},
         loss=True, name="makeloss_batch"),
    Case("MakeLoss", {"data": (2, 3, 4)}, {"normalization": "valid"}, loss=True,
         name="makeloss_valid"),
    Case("MakeLoss", {"data": (4, 5)},
         {"normalization": "valid", "valid_thresh": 0.5, "grad_scale": 2.0}, loss=True,
         name="makeloss_valid_thresh"),
    Case("MakeLoss", {"data": (4, 5)}, {"normalization": "valid", "valid_thresh": 5.0},
         loss=True, name="makeloss_valid_none"),
    Case("make_loss", {"data": (3, 4)}, loss=True, name="make_loss"),
    Case("make_loss", {"data": (2, 3)}, {"grad_scale": 2.0}, loss=True,
         name="make_loss_ignores_scale"),
    # loss functions with ordinary gradients
    Case("softmax_cross_entropy", {"data": (4, 5), "label": (4,)}, ints={"label": 5},
         no_grad=LAB, name="softmax_ce"),
    Case("softmax_cross_entropy", {"data": (1, 3), "label": (1,)}, ints={"label": 3},
         ranges={"data": (-6.0, 6.0)}, no_grad=LAB, name="softmax_ce_one"),
    Case("smooth_l1", {"data": (4, 5)}, name="smooth_l1"),
    Case("smooth_l1", {"data": (4, 5)}, {"scalar": 2.0}, name="smooth_l1_sigma2"),
    Case("smooth_l1", {"data": (3, 4)}, {"scalar": 0.5}, ranges={"data": (-6.0, 6.0)},
         name="smooth_l1_sigma_half"),
]
