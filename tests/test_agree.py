"""Agreement statistics against published worked examples and independent
implementations (pingouin, statsmodels, direct formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leg3dus.agree import (
    ICC_FORMS,
    bland_altman,
    bland_altman_ratio,
    compare,
    cv_percent,
    icc,
    lin_ccc,
    mdc95,
    measurement_error,
    paired_tests,
    sem,
)

# pingouin (the oracle) calls a pandas method that pandas 3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

# Shrout & Fleiss (1979), Table 2: 6 targets (rows) rated by 4 judges (columns).
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
                          [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
# Their Table 4: ICC(1,1), ICC(2,1), ICC(3,1), ICC(1,4), ICC(2,4), ICC(3,4).
SHROUT_FLEISS_ICC = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44,
                     "ICC2k": 0.62, "ICC3k": 0.91}

# Bland & Altman (1986), Lancet: peak expiratory flow rate (l/min) of 17 subjects,
# first reading with the Wright and with the mini Wright peak flow meter.
PEFR_WRIGHT = np.array([494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267,
                        478, 178, 423, 427], dtype=float)
PEFR_MINI = np.array([512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260,
                      477, 259, 350, 451], dtype=float)

# pingouin's rows, in its order, under our keys.
PINGOUIN_ORDER = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


def _ratings(rng, n, k, spread=1.0, rater_shift=0.5):
    subject = rng.normal(50.0, 10.0, size=(n, 1))
    rater = rng.normal(0.0, rater_shift, size=(1, k))
    return subject + rater + rng.normal(0.0, spread, size=(n, k))


def test_shrout_fleiss_published_values():
    r = icc(SHROUT_FLEISS)
    for form, published in SHROUT_FLEISS_ICC.items():
        assert round(r[form]["icc"], 2) == published, form


def test_shrout_fleiss_mean_squares():
    from leg3dus.agree import mean_squares

    ms = mean_squares(SHROUT_FLEISS)
    # Their Table 2: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02.
    assert (round(ms.msb, 2), round(ms.msw, 2), round(ms.msj, 2), round(ms.mse, 2)) == (
        11.24, 6.26, 32.49, 1.02)


@pytest.mark.parametrize(("n", "k", "seed"), [(6, 4, 0), (3, 2, 1), (20, 2, 2),
                                              (44, 4, 3), (10, 3, 4), (8, 5, 5)])
def test_icc_matches_pingouin(n, k, seed):
    pg = pytest.importorskip("pingouin")
    pd = pytest.importorskip("pandas")
    x = _ratings(np.random.default_rng(seed), n, k)
    df = pd.DataFrame([(i, j, x[i, j]) for i in range(n) for j in range(k)],
                      columns=["target", "rater", "score"])
    old = pg.options.get("round.column.CI95")
    pg.options["round.column.CI95"] = None
    try:
        ref = pg.intraclass_corr(df, "target", "rater", "score")
    finally:
        pg.options["round.column.CI95"] = old
    ours = icc(x)
    for i, form in enumerate(PINGOUIN_ORDER):
        row = ref.iloc[i]
        assert ours[form]["icc"] == pytest.approx(row["ICC"], abs=1e-9)
        assert ours[form]["F"] == pytest.approx(row["F"], rel=1e-9)
        assert ours[form]["df2"] == row["df2"]
        assert ours[form]["p"] == pytest.approx(row["pval"], rel=1e-6, abs=1e-12)
        lo, hi = row["CI95"]
        assert ours[form]["ci_lower"] == pytest.approx(lo, abs=1e-6)
        assert ours[form]["ci_upper"] == pytest.approx(hi, abs=1e-6)


def test_icc_shrout_fleiss_matches_pingouin_intervals():
    pg = pytest.importorskip("pingouin")
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([(i, j, SHROUT_FLEISS[i, j]) for i in range(6) for j in range(4)],
                      columns=["t", "r", "s"])
    old = pg.options.get("round.column.CI95")
    pg.options["round.column.CI95"] = None
    try:
        ref = pg.intraclass_corr(df, "t", "r", "s")
    finally:
        pg.options["round.column.CI95"] = old
    ours = icc(SHROUT_FLEISS)
    for i, form in enumerate(PINGOUIN_ORDER):
        assert ours[form]["icc"] == pytest.approx(ref.iloc[i]["ICC"], abs=1e-9)
        assert [ours[form]["ci_lower"], ours[form]["ci_upper"]] == pytest.approx(
            list(ref.iloc[i]["CI95"]), abs=1e-6)


def test_icc_invariants():
    x = _ratings(np.random.default_rng(7), 12, 3)
    r = icc(x)
    for f in ICC_FORMS:
        assert r[f]["ci_lower"] < r[f]["icc"] < r[f]["ci_upper"]
    # Consistency ignores a constant shift of one rater; absolute agreement does not.
    shifted = x.copy()
    shifted[:, 1] += 5.0
    s = icc(shifted)
    assert s["ICC3"]["icc"] == pytest.approx(r["ICC3"]["icc"], abs=1e-12)
    assert s["ICC2"]["icc"] < r["ICC2"]["icc"] - 0.05
    # Scaling all values changes nothing.
    assert icc(x * 3.7)["ICC2"]["icc"] == pytest.approx(r["ICC2"]["icc"], abs=1e-12)
    # Average measures are at least as reliable as single ones (Spearman-Brown).
    k = x.shape[1]
    assert r["ICC3k"]["icc"] == pytest.approx(k * r["ICC3"]["icc"]
                                              / (1 + (k - 1) * r["ICC3"]["icc"]), abs=1e-12)


def test_icc_narrower_interval_with_more_subjects():
    rng = np.random.default_rng(3)
    few, many = icc(_ratings(rng, 5, 2)), icc(_ratings(rng, 200, 2))
    width = {name: r["ICC2"]["ci_upper"] - r["ICC2"]["ci_lower"]
             for name, r in (("few", few), ("many", many))}
    assert width["many"] < width["few"] / 3


def test_icc_rejects_small_tables():
    with pytest.raises(ValueError, match="at least 2 x 2"):
        icc([[1.0, 2.0]])


def test_sem_mdc_cv_against_direct_formulas():
    x = _ratings(np.random.default_rng(11), 15, 2)
    icc2 = icc(x)["ICC2"]["icc"]
    all_sd = math.sqrt(sum((v - x.mean()) ** 2 for v in x.ravel()) / (x.size - 1))
    assert sem(x, icc2) == pytest.approx(all_sd * math.sqrt(1 - icc2), rel=1e-12)
    assert mdc95(2.0) == pytest.approx(2.0 * 1.96 * math.sqrt(2), rel=1e-12)
    # CV% by root mean square of per-subject CVs (Hopkins).
    cvs = [np.std(row, ddof=1) / np.mean(row) for row in x]
    assert cv_percent(x) == pytest.approx(100 * math.sqrt(sum(c * c for c in cvs) / len(cvs)))
    r = measurement_error(x, icc2)
    assert r["SEM_pct"] == pytest.approx(100 * r["SEM"] / x.mean())
    assert r["MDC95"] == pytest.approx(mdc95(r["SEM"]))


def test_cv_nan_for_zero_mean():
    assert math.isnan(cv_percent([[1.0, -1.0], [2.0, 3.0], [4.0, 5.0]]))


def test_bland_altman_pefr_published():
    r = bland_altman(PEFR_WRIGHT, PEFR_MINI)
    # Bland & Altman 1986: mean difference -2.1 l/min, SD of differences 38.8 l/min.
    assert round(r["bias"], 1) == -2.1
    assert round(r["sd_diff"], 1) == 38.8
    assert round(float(np.corrcoef(PEFR_WRIGHT, PEFR_MINI)[0, 1]), 2) == 0.94
    r2 = bland_altman(PEFR_WRIGHT, PEFR_MINI, z=2.0)
    assert r2["loa_upper"] - r2["loa_lower"] == pytest.approx(4 * r2["sd_diff"])


def test_bland_altman_against_direct_computation():
    rng = np.random.default_rng(5)
    a = rng.normal(300, 50, 30)
    b = a * 1.05 + rng.normal(2, 8, 30)
    r = bland_altman(a, b)
    d = a - b
    n = d.size
    sd = math.sqrt(sum((v - d.mean()) ** 2 for v in d) / (n - 1))
    from scipy import stats

    t = stats.t.ppf(0.975, n - 1)
    assert r["bias"] == pytest.approx(d.mean())
    assert r["sd_diff"] == pytest.approx(sd)
    assert r["loa_lower"] == pytest.approx(d.mean() - 1.96 * sd)
    assert r["loa_upper"] == pytest.approx(d.mean() + 1.96 * sd)
    assert r["bias_ci_upper"] - r["bias"] == pytest.approx(t * sd / math.sqrt(n))
    se_loa = math.sqrt(3 * sd**2 / n)
    assert r["loa_upper_ci_upper"] - r["loa_upper"] == pytest.approx(t * se_loa)
    assert r["loa_lower"] - r["loa_lower_ci_lower"] == pytest.approx(t * se_loa)


def test_proportional_bias_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(9)
    a = rng.normal(300, 60, 25)
    b = 0.9 * a + rng.normal(0, 5, 25)
    r = bland_altman(a, b)
    fit = sm.OLS(a - b, sm.add_constant((a + b) / 2)).fit()
    assert r["prop_bias_slope"] == pytest.approx(fit.params[1], rel=1e-9)
    assert r["prop_bias_intercept"] == pytest.approx(fit.params[0], rel=1e-9)
    assert r["prop_bias_p"] == pytest.approx(fit.pvalues[1], rel=1e-6)
    assert r["prop_bias_p"] < 0.001  # a 10 % proportional error is found


def test_ratio_variant():
    rng = np.random.default_rng(4)
    b = rng.uniform(100, 600, 20)
    a = b * 1.1 * np.exp(rng.normal(0, 0.02, 20))
    r = bland_altman_ratio(a, b)
    logs = np.log(a / b)
    assert r["ratio_bias"] == pytest.approx(math.exp(logs.mean()))
    assert r["ratio_loa_upper"] == pytest.approx(math.exp(logs.mean() + 1.96 * logs.std(ddof=1)))
    assert r["ratio_loa_lower"] < r["ratio_bias"] < r["ratio_loa_upper"]
    with pytest.raises(ValueError, match="positive"):
        bland_altman_ratio([1.0, 0.0, 2.0], [1.0, 1.0, 2.0])


def test_lin_ccc_independent_formula():
    rng = np.random.default_rng(2)
    a = rng.normal(10, 2, 40)
    b = 0.8 * a + 3 + rng.normal(0, 0.5, 40)
    # Lin (1989): CCC = r * C_b, C_b = 2 / (v + 1/v + u^2), v = s_a/s_b,
    # u = (mean_a - mean_b) / sqrt(s_a s_b) with 1/n SDs.
    r = np.corrcoef(a, b)[0, 1]
    v = a.std() / b.std()
    u = (a.mean() - b.mean()) / math.sqrt(a.std() * b.std())
    assert lin_ccc(a, b) == pytest.approx(r * 2 / (v + 1 / v + u * u), rel=1e-12)
    assert lin_ccc(a, a) == pytest.approx(1.0)
    assert lin_ccc(a, a + 1) < 1.0


def test_paired_tests_match_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(8)
    a = rng.normal(100, 10, 18)
    b = a + rng.normal(1, 2, 18)
    r = paired_tests(a, b)
    t = pg.ttest(a, b, paired=True)
    assert r["t"] == pytest.approx(t["T"].iloc[0], rel=1e-9)
    assert r["t_p"] == pytest.approx(t["p_val"].iloc[0] if "p_val" in t else
                                     t["p-val"].iloc[0], rel=1e-6)
    w = pg.wilcoxon(a, b)
    assert r["wilcoxon_w"] == pytest.approx(w["W_val"].iloc[0] if "W_val" in w else
                                            w["W-val"].iloc[0])
    p_col = "p_val" if "p_val" in w else "p-val"
    assert r["wilcoxon_p"] == pytest.approx(w[p_col].iloc[0], rel=1e-6)
    assert r["pearson_r"] == pytest.approx(np.corrcoef(a, b)[0, 1])
    same = paired_tests(a, a)
    assert math.isnan(same["wilcoxon_w"])


def test_compare_keys_by_number_of_raters():
    x2 = _ratings(np.random.default_rng(1), 10, 2)
    r2 = compare(x2)
    for key in (*ICC_FORMS, "bias", "sd_diff", "loa_lower", "loa_upper", "ccc", "SEM",
                "MDC95", "CV_pct", "ratio_bias", "t_p", "wilcoxon_p", "prop_bias_p"):
        assert key in r2, key
    r3 = compare(_ratings(np.random.default_rng(1), 10, 3))
    assert "ICC3k" in r3 and "bias" not in r3 and "ccc" not in r3
    negative = compare(x2 - 60.0)
    assert "ratio_bias" not in negative and "bias" in negative


def test_identical_raters_give_one_without_error():
    x = np.array([1.0, 4.0, 2.0, 8.0])
    r = icc(np.column_stack([x, x]))
    assert all(r[f]["icc"] == pytest.approx(1.0) for f in ICC_FORMS)
    c = compare(np.column_stack([x, x]))
    assert c["bias"] == 0.0 and c["sd_diff"] == 0.0 and c["ccc"] == pytest.approx(1.0)
