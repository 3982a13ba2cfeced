"""The rest of the linalg family (mxc/ir/opdefs/linalg2.py): extractdiag, makediag,
sumlogdiag, extracttrian, maketrian, trmm, syrk, trsm, inverse, det, slogdet, potrf, potri."""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-4, "rtol": 1e-4, "atol": 1e-5}
POS = (0.5, 2.0)

CASES = []


def add(*cases):
    CASES.extend(cases)


add(
    Case("linalg.extractdiag", {"A": (4, 4)}, name="extractdiag", **G),
    Case("linalg.extractdiag", {"A": (2, 4, 4)}, {"offset": 1}, name="extractdiag_batch_off",
         **G),
    Case("linalg.extractdiag", {"A": (3, 3)}, {"offset": -2}, name="extractdiag_neg", **G),
    Case("linalg.makediag", {"A": (4,)}, name="makediag", **G),
    Case("linalg.makediag", {"A": (2, 3)}, {"offset": 1}, name="makediag_batch_off", **G),
    Case("linalg.makediag", {"A": (3,)}, {"offset": -1}, name="makediag_neg", **G),
    Case("linalg.sumlogdiag", {"A": (3, 3)}, name="sumlogdiag", ranges={"A": POS}, **G),
    Case("linalg.sumlogdiag", {"A": (2, 4, 4)}, name="sumlogdiag_batch", ranges={"A": POS}, **G),
    Case("linalg.extracttrian", {"A": (4, 4)}, name="extracttrian", **G),
    Case("linalg.extracttrian", {"A": (2, 4, 4)}, {"lower": False}, name="extracttrian_upper",
         **G),
    Case("linalg.extracttrian", {"A": (4, 4)}, {"offset": 1}, name="extracttrian_off", **G),
    Case("linalg.extracttrian", {"A": (2, 3, 3)}, {"offset": -1},
         name="extracttrian_neg", **G),
    Case("linalg.maketrian", {"A": (6,)}, name="maketrian", **G),
    Case("linalg.maketrian", {"A": (2, 6)}, {"lower": False}, name="maketrian_upper", **G),
    Case("linalg.maketrian", {"A": (3,)}, {"offset": 1}, name="maketrian_off", **G),
    Case("linalg.maketrian", {"A": (2, 6)}, {"offset": -2}, name="maketrian_neg", **G),
    Case("linalg.trmm", {"A": (3, 3), "B": (3, 4)}, name="trmm", **G),
    Case("linalg.trmm", {"A": (2, 3, 3), "B": (2, 4, 3)},
         {"transpose": True, "rightside": True, "lower": False, "alpha": 1.5},
         name="trmm_right_t_upper", **G),
    Case("linalg.trmm", {"A": (3, 3), "B": (3, 2)}, {"transpose": True, "alpha": -0.5},
         name="trmm_t", **G),
    Case("linalg.syrk", {"A": (3, 4)}, name="syrk", **G),
    Case("linalg.syrk", {"A": (2, 3, 4)}, {"transpose": True, "alpha": 0.5},
         name="syrk_t_batch", **G),
    Case("linalg.trsm", {"A": (3, 3), "B": (3, 4)}, name="trsm", ranges={"A": POS}, **G),
    Case("linalg.trsm", {"A": (2, 3, 3), "B": (2, 4, 3)},
         {"transpose": True, "rightside": True, "lower": False, "alpha": 1.5},
         name="trsm_right_t_upper", ranges={"A": POS}, **G),
    Case("linalg.trsm", {"A": (3, 3), "B": (3, 2)}, {"transpose": True, "alpha": -0.5},
         name="trsm_t", ranges={"A": POS}, **G),
    Case("linalg.trsm", {"A": (3, 3), "B": (2, 3)}, {"rightside": True, "lower": False},
         name="trsm_right_upper", ranges={"A": POS}, **G),
    Case("linalg.inverse", {"A": (3, 3)}, name="inverse", spd=("A",), **G),
    Case("linalg.inverse", {"A": (2, 4, 4)}, name="inverse_batch", spd=("A",), **G),
    Case("linalg.det", {"A": (3, 3)}, name="det", spd=("A",), **G),
    Case("linalg.det", {"A": (2, 4, 4)}, name="det_batch", spd=("A",), **G),
    Case("linalg.slogdet", {"A": (3, 3)}, name="slogdet", spd=("A",), **G),
    Case("linalg.slogdet", {"A": (2, 4, 4)}, name="slogdet_batch", spd=("A",), **G),
    Case("linalg.potrf", {"A": (3, 3)}, name="potrf", spd=("A",), **G),
    Case("linalg.potrf", {"A": (2, 4, 4)}, name="potrf_batch", spd=("A",), **G),
    Case("linalg.potri", {"A": (3, 3)}, name="potri", ranges={"A": POS}, **G),
    Case("linalg.potri", {"A": (2, 3, 3)}, name="potri_batch", ranges={"A": POS}, **G),
)
add(
    Case("linalg.gelqf", {"A": (3, 5)}, name="gelqf", **G),
    Case("linalg.gelqf", {"A": (2, 3, 3)}, name="gelqf_batch_square", **G),
)
add(
    Case("linalg.syevd", {"A": (4, 4)}, name="syevd", spd=("A",), **G),
    Case("linalg.syevd", {"A": (2, 3, 3)}, name="syevd_batch", spd=("A",), **G),
)
