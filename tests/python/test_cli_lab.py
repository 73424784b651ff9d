"""The lab side of the losslab command: recommend, plot, landscape, the figures
and the HTML report (docs/cli_lab.md).

Oracles: scipy.stats for the profile statistics, closed-form formulas (NumPy)
for the plotted loss / gradient curves, the engine's own validation loss for
the landscape's loss evaluation, the PNG header / XML parser for the files,
and headless Chromium (Debian's ``chromium``) for the report.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import losslab

pytest.importorskip("matplotlib")

from losslab.cli import cmd_plot, plots  # noqa: E402
from losslab.cli.data import Dataset, load_bundled  # noqa: E402
from losslab.cli.errors import CliError  # noqa: E402
from losslab.cli.main import main  # noqa: E402
from losslab.cli.profile import profile_data, recommend, robust_z  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _data_dir(monkeypatch):
    # The package may run from a copy outside the source tree (private pkg dirs).
    if not os.environ.get("LOSSLAB_DATA_DIR"):
        monkeypatch.setenv("LOSSLAB_DATA_DIR", str(REPO / "data"))


def _png_size(path) -> tuple[int, int]:
    b = pathlib.Path(path).read_bytes() if not isinstance(path, bytes) else path
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert b[12:16] == b"IHDR"
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


def _check_figure_files(png, svg, size):
    png, svg = pathlib.Path(png), pathlib.Path(svg)
    assert png.stat().st_size > 1000
    assert _png_size(png) == size
    root = ET.parse(svg).getroot()  # raises on malformed XML
    assert root.tag.endswith("svg")


def _ds(task, X, y, classes=None, name="synthetic"):
    y_raw = np.asarray(y, dtype=np.float64)
    return Dataset(name=name, target="y", task=task, X=np.asarray(X, np.float32), y=np.asarray(y),
                   classes=classes, feature_names=[f"x{i}" for i in range(X.shape[1])], y_raw=y_raw,
                   missing={})


# --------------------------------------------------------------------------- profile / recommend


def test_profile_statistics_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    y = rng.lognormal(size=500)
    X = rng.normal(size=(500, 3))
    p = profile_data(_ds("regression", X, y))
    assert p["skewness"] == pytest.approx(stats.skew(y), rel=1e-9)
    assert p["excess_kurtosis"] == pytest.approx(stats.kurtosis(y), rel=1e-9)
    # Iglewicz & Hoaglin robust z with scipy's normal-consistent MAD.
    z = np.abs(y - np.median(y)) / stats.median_abs_deviation(y, scale="normal")
    np.testing.assert_allclose(robust_z(y), z, rtol=1e-4)
    assert p["outlier_share_target"] == pytest.approx(np.mean(z > 3.5))


def _synthetic(trait, rng):
    n = 1500
    X = rng.normal(size=(n, 4))
    if trait in ("clean", "costs"):
        return _ds("regression", X, X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=n))
    if trait == "outliers":
        y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=n)
        bad = rng.random(n) < 0.06
        y[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(15, 40, bad.sum())
        return _ds("regression", X, y)
    if trait == "imbalance":
        y = (rng.random(n) < 0.04).astype(np.int64)
        return _ds("binary", X, y, ["neg", "pos"])
    if trait == "multiclass":
        return _ds("multiclass", X, rng.integers(0, 5, n).astype(np.int64), [str(i) for i in range(5)])
    raise AssertionError(trait)


@pytest.mark.parametrize(
    "trait,families",
    [("clean", {"mse"}), ("outliers", {"huber", "mae"}), ("imbalance", {"weighted_bce", "focal"}),
     ("multiclass", {"cross_entropy"})],
)
def test_recommend_synthetic_traits(trait, families):
    ds = _synthetic(trait, np.random.default_rng(7))
    prof = profile_data(ds)
    cands = recommend(prof)
    assert cands[0]["family"] in families, cands[0]
    assert cands[0]["role"] == "recommended"
    assert all(c["reasons"] for c in cands)
    if trait == "outliers":
        assert prof["outlier_share_residuals"] > 0.03
        # delta = 1.345 x robust sigma of the residuals, cited in the reasons.
        huber = next(c for c in cands if c["family"] == "huber")
        assert huber["params"]["delta"] == pytest.approx(1.345 * prof["residual_robust_sigma"], rel=6e-3)
        assert any(f"{100 * prof['outlier_share_residuals']:.1f} %" in r for r in huber["reasons"])
        assert cands[-1]["role"] == "baseline" and cands[-1]["family"] == "mse"
    if trait == "clean":
        assert prof["outlier_share_residuals"] < 0.01
    if trait == "imbalance":
        counts = np.bincount(ds.y)
        wb = next(c for c in cands if c["family"] == "weighted_bce")
        assert wb["params"]["pos_weight"] == pytest.approx(counts[0] / counts[1], rel=5e-3)
        focal = next(c for c in cands if c["family"] == "focal")
        assert focal["params"]["alpha"] == pytest.approx(counts[0] / counts.sum(), abs=0.01)


@pytest.mark.parametrize("cu,co", [(5.0, 1.0), (1.0, 3.0)])
def test_recommend_asymmetric_costs_give_the_critical_quantile(cu, co):
    ds = _synthetic("costs", np.random.default_rng(3))
    cands = recommend(profile_data(ds, cost_under=cu, cost_over=co))
    assert cands[0]["family"] == "quantile"
    assert cands[0]["params"]["quantile"] == pytest.approx(cu / (cu + co), abs=1e-3)
    assert cands[0]["spec"].startswith("quantile:")


def test_recommend_costs_need_both_and_positive():
    ds = _synthetic("costs", np.random.default_rng(3))
    with pytest.raises(CliError, match="--cost-over"):
        profile_data(ds, cost_under=2.0)
    with pytest.raises(CliError, match="positive"):
        profile_data(ds, cost_under=-1.0, cost_over=1.0)


@pytest.mark.parametrize(
    "name,families",
    [("ames", {"huber", "mae"}), ("lending_club", {"weighted_bce", "focal"}), ("digits", {"cross_entropy"}),
     ("brain_mri", {"dice_ce"}),
     # 37 % malignant: mild imbalance (20-40 %), plain BCE first (docs/cli_lab.md rules)
     ("breast_cancer", {"bce"})],
)
def test_recommend_bundled(name, families):
    prof = profile_data(load_bundled(name))
    cands = recommend(prof)
    assert cands[0]["family"] in families, [c["spec"] for c in cands]
    if name == "lending_club":
        assert prof["imbalance_ratio"] == pytest.approx(9340 / 517)  # data/README.md counts


def test_recommend_command_json(capsys):
    assert main(["recommend", "--dataset", "digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["profile"]["n_classes"] == 10
    assert out["recommendations"][0]["spec"] == "ce"


def test_recommend_verify_writes_report_with_verdict(tmp_path, capsys):
    code = main(["recommend", "--dataset", "lending_club", "--max-rows", "1200", "--verify", "--folds", "2",
                 "--epochs", "2", "--model", "linear", "--lr", "0.01", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^(agrees|partly agrees|disagrees): .* test F1", out, re.M), out
    html = (tmp_path / "report.html").read_text()
    assert "Recommendation" in html and "weighted_bce" in html
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["recommendation"]["metric"] == "f1"
    assert {e["spec"] for e in res["losses"]} >= {"bce"}


def test_recommend_verify_interrupted_keeps_runs_and_does_not_claim_agreement(tmp_path, capsys, monkeypatch):
    import losslab.cli.compare as cmp

    real, calls = cmp.fit_model, {"n": 0}

    def fake(*a, **k):  # Ctrl-C during the second candidate's first fold
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cmp, "fit_model", fake)
    code = main(["recommend", "--dataset", "breast_cancer", "--verify", "--folds", "2", "--epochs", "1",
                 "--model", "linear", "--out-dir", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 130
    out = json.loads(captured.out)
    ver = out["verify"]
    assert ver["interrupted"] is True and ver["agrees"] is None
    assert ver["verdict"].startswith(f"undecided: interrupted after 1 of {len(ver['specs'])} runs")
    assert "interrupted; kept 1 finished run" in captured.err
    res = json.loads((tmp_path / "results.json").read_text())  # the finished run is kept in the report
    assert res["interrupted"] is True and len(res["losses"]) == 1


# --------------------------------------------------------------------------- plot


def _plot_json(capsys, argv):
    assert main(["plot"] + argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plot_regression_curves_equal_losslab_and_closed_form(tmp_path, capsys):
    d = _plot_json(capsys, ["huber", "mse", "mae", "quantile:0.9", "--delta", "1.5", "--range", "-3", "3",
                            "--points", "61", "--out-dir", str(tmp_path), "--name", "reg"])
    assert d["axis"] == "error"
    e = np.asarray(d["x"])
    s = {x["loss"]: x for x in d["series"]}
    # closed forms (the oracle) ...
    a = np.abs(e)
    ref = {
        "huber_loss": (np.where(a <= 1.5, 0.5 * e**2, 1.5 * (a - 0.75)), np.clip(e, -1.5, 1.5)),
        "mse_loss": (e**2, 2 * e),
        "l1_loss": (a, np.sign(e)),
        "quantile_loss": (np.where(e < 0, -0.9 * e, 0.1 * e), np.where(e < 0, -0.9, np.where(e > 0, 0.1, 0.0))),
    }
    for name, (v, g) in ref.items():
        np.testing.assert_allclose(s[name]["value"], v, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(s[name]["grad"], g, rtol=1e-12, atol=1e-12, err_msg=name)
    # ... and the same numbers as calling losslab directly.
    v, g = losslab.huber_loss(e, np.zeros_like(e), delta=1.5, reduction="none", return_grad=True)
    assert s["huber_loss"]["value"] == list(v) and s["huber_loss"]["grad"] == list(g)
    _check_figure_files(d["png"], d["svg"], (1100, 450))


def test_plot_margin_and_probability_curves(tmp_path, capsys):
    d = _plot_json(capsys, ["hinge", "squared_hinge", "logistic", "--points", "41", "--out-dir", str(tmp_path)])
    assert d["axis"] == "margin"
    m = np.asarray(d["x"])
    s = {x["loss"]: x for x in d["series"]}
    np.testing.assert_allclose(s["hinge_loss"]["value"], np.maximum(0, 1 - m), atol=1e-12)
    np.testing.assert_allclose(s["squared_hinge_loss"]["grad"], -2 * np.maximum(0, 1 - m), atol=1e-12)
    np.testing.assert_allclose(s["binary_cross_entropy_with_logits"]["value"], np.log1p(np.exp(-m)), rtol=1e-12)
    np.testing.assert_allclose(s["binary_cross_entropy_with_logits"]["grad"], -1 / (1 + np.exp(m)), rtol=1e-12)

    d = _plot_json(capsys, ["bce_prob", "ce", "focal:3", "--axis", "probability", "--points", "41",
                            "--out-dir", str(tmp_path)])
    p = np.asarray(d["x"])
    s = {x["loss"]: x for x in d["series"]}
    for name in ("binary_cross_entropy", "cross_entropy"):
        np.testing.assert_allclose(s[name]["value"], -np.log(p), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(s[name]["grad"], -1 / p, rtol=1e-8, err_msg=name)
    # focal (no alpha weighting) on the probability of the true class:
    # -(1-p)^g log p, derivative g (1-p)^(g-1) log p - (1-p)^g / p.
    g = 3.0
    np.testing.assert_allclose(s["sigmoid_focal_loss"]["value"], -((1 - p) ** g) * np.log(p), rtol=1e-9)
    np.testing.assert_allclose(s["sigmoid_focal_loss"]["grad"],
                               g * (1 - p) ** (g - 1) * np.log(p) - (1 - p) ** g / p, rtol=1e-7)


def test_plot_table_output_and_files(tmp_path, capsys):
    assert main(["plot", "huber", "mse", "mae", "--delta", "1", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if lines[i + 1].startswith("---"))
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[header + 2: header + 5]]
    assert [r[0] for r in rows] == ["huber(δ=1)", "mse", "mae"]
    assert rows[1][1] == "9 / -6"  # mse at e = -3: 9, gradient -6
    _check_figure_files(tmp_path / "loss_curves_huber_mse_mae.png", tmp_path / "loss_curves_huber_mse_mae.svg",
                        (1100, 450))


@pytest.mark.parametrize(
    "argv,needle",
    [(["mse", "hinge"], "no common x axis"), (["mse", "--gamma", "2"], "--gamma"),
     # the suggested command is runnable: the specs as typed, not their display labels
     (["huber:2", "bce", "mae"], "e.g. `losslab plot huber:2 mae`"),
     (["nonsense"], "cannot plot 'nonsense'"), (["huber:abc"], "number"),
     (["ce", "--axis", "error"], "--axis error"), (["bce", "--axis", "probability", "--range", "0", "1"], "(0, 1)")],
)
def test_plot_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert main(["plot"] + argv + ["--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("losslab plot: error:") and "\n" not in err and "Traceback" not in err
    assert needle in err


# --------------------------------------------------------------------------- figures


def test_figure_functions_have_the_stated_pixel_size(tmp_path):
    a = np.linspace(-1, 1, 5)
    cases = {
        "landscape_contour": plots.landscape_contour(a, a, np.add.outer(a**2, a**2) + 0.1),
        "landscape_surface": plots.landscape_surface(a, a, np.add.outer(a**2, a**2) + 0.1),
        "landscape_interpolation": plots.landscape_interpolation(np.linspace(-0.25, 1.25, 7), np.arange(7) + 1.0),
        "calibration": plots.calibration([("x", np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.6, 0.3]))], "binary"),
    }
    for stem, fig in cases.items():
        w, h = plots.FIGSIZES[stem]
        assert plots.pixel_size(fig) == (round(w * plots.DPI), round(h * plots.DPI))
        png, svg = plots.save_figure(fig, tmp_path, stem)
        _check_figure_files(png, svg, (round(w * plots.DPI), round(h * plots.DPI)))


# --------------------------------------------------------------------------- landscape


def test_landscape_loss_evaluation_matches_engine_and_directions_are_filter_normalized():
    from losslab.cli import cmd_landscape
    from losslab.cli.losses import parse_loss_spec
    from losslab.cli.training import fit_model

    ds = load_bundled("ames").subset(np.arange(300))
    spec = parse_loss_spec("huber:0.5", ds)
    res = fit_model(ds.X, ds.y, spec, ds.task, None, hidden=[8], epochs=2, seed=0, validation=(ds.X, ds.y))
    model = res.model
    Xs = res.x_scaler.transform(ds.X)
    target = res.y_scaler.transform(ds.y.astype(np.float64))
    f = cmd_landscape._loss_call(spec, res.options)
    theta = model.parameters()
    # Oracle: the engine's own validation loss (eval mode, whole set) at θ*.
    assert cmd_landscape.training_loss(model, theta, Xs, target, f) == pytest.approx(
        res.history[-1]["val_loss"], rel=1e-5)
    weights = model.state_dict()
    d = cmd_landscape.filter_normalized_direction(model, np.random.default_rng(0))
    np.testing.assert_array_equal(model.parameters(), theta)  # restored
    model.set_parameters(d.astype(np.float32))
    for (dw, db), (w, _) in zip(model.state_dict(), weights):
        # Li et al. 2018: each row (neuron) of the direction has the norm of the same row of W.
        np.testing.assert_allclose(np.linalg.norm(dw, axis=1), np.linalg.norm(w, axis=1), rtol=1e-5)
        assert not np.any(db)  # bias direction 0
    model.set_parameters(theta)


def test_landscape_command_tiny(tmp_path, capsys):
    code = main(["landscape", "--dataset", "ames", "--max-rows", "300", "--loss", "huber", "--model", "mlp:8",
                 "--epochs", "3", "--resolution", "5", "--interp-points", "7", "--out-dir", str(tmp_path), "--json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    Z = np.asarray(d["loss_grid"])
    assert Z.shape == (5, 5) and np.all(np.isfinite(Z))
    assert Z[2, 2] == pytest.approx(d["loss_at_solution"], rel=1e-6)  # grid centre = θ*
    assert d["interpolation"]["alpha"][0] == -0.25 and d["interpolation"]["alpha"][-1] == 1.25
    interp = d["interpolation"]["loss"]
    assert interp[1] == pytest.approx(d["loss_at_init"], rel=1e-6)  # alpha = 0
    assert d["loss_at_solution"] < d["loss_at_init"]
    for stem in ("landscape_contour", "landscape_surface", "landscape_interpolation"):
        w, h = plots.FIGSIZES[stem]
        _check_figure_files(d["files"][stem]["png"], d["files"][stem]["svg"], (int(w * 100), int(h * 100)))
    assert json.loads((tmp_path / "landscape.json").read_text())["resolution"] == 5


def test_landscape_interrupted_keeps_the_finished_rows(tmp_path, capsys, monkeypatch):
    from losslab.cli import cmd_landscape

    real, calls = cmd_landscape.training_loss, {"n": 0}
    res, npts = 5, 5
    stop = 2 + npts + 2 * res + 1  # θ*, θ0, the interpolation, 2 grid rows, then Ctrl-C

    def fake(*a, **k):
        calls["n"] += 1
        if calls["n"] == stop:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cmd_landscape, "training_loss", fake)
    code = main(["landscape", "--dataset", "ames", "--max-rows", "200", "--loss", "mse", "--model", "mlp:4",
                 "--epochs", "1", "--resolution", str(res), "--interp-points", str(npts),
                 "--out-dir", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 130
    d = json.loads(captured.out)
    assert d["interrupted"] is True and d["grid_rows_done"] == 2
    Z = np.array(d["loss_grid"], dtype=float)  # null (not evaluated) -> nan
    assert np.all(np.isfinite(Z[:2])) and np.all(np.isnan(Z[2:]))
    assert np.all(np.isfinite(d["interpolation"]["loss"]))
    for stem in ("landscape_contour", "landscape_surface", "landscape_interpolation"):
        assert pathlib.Path(d["files"][stem]["png"]).stat().st_size > 1000
    saved = json.loads((tmp_path / "landscape.json").read_text())
    assert saved["grid_rows_done"] == 2


# --------------------------------------------------------------------------- report in Chromium


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (Debian package `chromium`); the report render check needs it")


_CHECK_JS = (
    "<script>addEventListener('load',function(){var b=0,n=0;for(var i of document.images){n++;"
    "if(!i.complete||i.naturalWidth===0)b++;}document.body.setAttribute('data-images',n);"
    "document.body.setAttribute('data-broken',b);});</script>"
)


def _check_report_in_chromium(report: pathlib.Path, tmp_path: pathlib.Path):
    chrome = _chromium()
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html  # the report needs no JavaScript
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from the network
    imgs = re.findall(r"<img [^>]*>", html)
    assert imgs
    for tag in imgs:
        src = re.search(r'src="([^"]+)"', tag).group(1)
        m = re.match(r"data:image/(png|svg\+xml);base64,(.*)$", src)
        assert m, "every image is embedded as a data URI"
        raw = base64.b64decode(m.group(2), validate=True)
        if m.group(1) == "png":
            w, h = _png_size(raw)
            assert f'width="{w}"' in tag and f'height="{h}"' in tag
        else:
            ET.fromstring(raw)
    common = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(common + [f"--screenshot={shot}", "--window-size=1200,3000", report.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert _png_size(shot) == (1200, 3000)
    import matplotlib.image

    px = matplotlib.image.imread(str(shot))[..., :3]
    assert px.std() > 0.05, "the screenshot is blank"
    assert np.mean(px.min(axis=2) < 0.9) > 0.02, "almost nothing drawn"
    # Image load check: a copy of the report with a probe script; the DOM
    # dump shows how many images loaded (naturalWidth > 0).
    probe = report.with_name("report_probe.html")
    probe.write_text(html.replace("</body>", _CHECK_JS + "</body>"), encoding="utf-8")
    dom = subprocess.run(common + ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert f'data-images="{len(imgs)}"' in body and 'data-broken="0"' in body, body


@pytest.mark.parametrize("dataset,specs,rows", [("ames", ["mse", "huber:0.5"], 400),
                                               ("digits", ["ce", "multi_hinge"], 400)])
def test_compare_report_renders_in_chromium(dataset, specs, rows, tmp_path):
    from losslab.cli.compare import run_compare
    from losslab.cli.data import subsample_indices
    from losslab.cli.report import write_compare_report

    ds = load_bundled(dataset)
    ds = ds.subset(subsample_indices(ds.n_samples, rows, 0, None if ds.task == "regression" else ds.y))
    result = run_compare(ds, specs, folds=2, epochs=2, model="mlp:8", progress=False)
    report = write_compare_report(result, tmp_path / "rep")
    assert report == tmp_path / "rep" / "report.html"
    html = report.read_text()
    for section in ("Dataset", "Losses side by side", "Learning curves", "Calibration",
                    "Residual distributions" if dataset == "ames" else "Confusion matrices"):
        assert f"<h2>{section}</h2>" in html
    assert html.count("★") + html.count('class="best"') >= len(result["metrics"])
    saved = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert saved["losses"][0]["spec"] == specs[0]
    figs = sorted(p.name for p in (tmp_path / "rep" / "figures").iterdir())
    assert "learning_curves.png" in figs and "learning_curves.svg" in figs
    _check_figure_files(tmp_path / "rep" / "figures" / "learning_curves.png",
                        tmp_path / "rep" / "figures" / "learning_curves.svg", (900, 450))
    _check_report_in_chromium(report, tmp_path)


def test_verify_verdict_uses_the_asymmetric_cost():
    from losslab.cli.cmd_recommend import verdict

    rng = np.random.default_rng(5)
    y = rng.normal(size=400)
    preds = {"quantile:0.833": y + 0.5, "mse": y.copy(), "huber:1": y - 0.3}
    losses = [{"spec": s, "label": s, "metrics": {}, "oof": {"y_true": y.tolist(), "y_pred": p.tolist()}}
              for s, p in preds.items()]
    prof = {"cost_under": 5.0, "cost_over": 1.0}
    cands = [{"spec": "quantile:0.833", "family": "quantile", "role": "recommended"},
             {"spec": "mse", "family": "mse", "role": "baseline"}]
    v = verdict({"task": "regression", "losses": losses}, cands, prof)

    def cost(p):  # oracle: the cost itself, 5 per unit under, 1 per unit over
        return float(np.mean(5.0 * np.maximum(y - p, 0) + 1.0 * np.maximum(p - y, 0)))

    assert v["metric"] == "cost"
    got = {r["spec"]: r["mean"] for r in v["ranking"]}
    for s, p in preds.items():
        assert got[s] == pytest.approx(cost(p), rel=1e-9)
    # Predicting high by 0.5 costs 0.5 per row; exact predictions cost 0; so mse wins here.
    assert v["agrees"] is False and v["verdict"].startswith("disagrees: mse")


def test_compare_with_a_quantile_loss_reports_pinball_and_coverage(tmp_path):
    """compare with quantile:0.9 adds pinball@0.9 (lower is better) and
    coverage@0.9 (closest to 0.9 is best) for every loss. Oracle: NumPy on
    each fold's out-of-fold predictions, pinball(q) = mean(q (y - p)+ +
    (1 - q)(p - y)+) and coverage = mean(y <= p), averaged over the folds."""
    from losslab.cli.compare import run_compare
    from losslab.cli.data import kfold_indices, subsample_indices
    from losslab.cli.report import write_compare_report

    ds = load_bundled("ames")
    ds = ds.subset(subsample_indices(ds.n_samples, 300, 0, None))
    result = run_compare(ds, ["mse", "quantile:0.9"], folds=2, epochs=30, model="linear", lr=1e-2,
                         progress=False)
    assert result["metrics"] == ["rmse", "mae", "r2", "pinball@0.9", "coverage@0.9"]
    assert result["higher_is_better"]["pinball@0.9"] is False
    assert result["higher_is_better"]["coverage@0.9"] is None
    assert result["metric_targets"] == {"coverage@0.9": 0.9}
    splits = kfold_indices(ds.n_samples, 2, 0, None)
    cover = {}
    for e in result["losses"]:
        yt = np.asarray(e["oof"]["y_true"])
        yp = np.asarray(e["oof"]["y_pred"])
        pin, cov = [], []
        for _, te in splits:
            d = yt[te] - yp[te]
            pin.append(np.mean(np.maximum(0.9 * d, (0.9 - 1) * d)))
            cov.append(np.mean(yt[te] <= yp[te]))
        assert e["metrics"]["pinball@0.9"]["mean"] == pytest.approx(np.mean(pin), rel=1e-6)
        assert e["metrics"]["coverage@0.9"]["mean"] == pytest.approx(np.mean(cov), abs=1e-12)
        cover[e["spec"]] = np.mean(cov)
    # The quantile model covers more than the mean model; "best" is the
    # coverage closest to 0.9.
    assert cover["quantile:0.9"] > cover["mse"]
    closest = min(cover, key=lambda s: abs(cover[s] - 0.9))
    assert [e["spec"] for e in result["losses"] if "coverage@0.9" in e["best"]] == [closest]
    html = write_compare_report(result, tmp_path / "rep").read_text()
    assert "coverage@0.9 → 0.9" in html and "pinball@0.9 ↓" in html


def test_train_with_a_quantile_loss_reports_pinball_and_coverage(tmp_path, capsys):
    code = main(["train", "--dataset", "ames", "--max-rows", "300", "--loss", "quantile:0.8", "--epochs", "2",
                 "--model", "linear", "--out-dir", str(tmp_path / "t"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    test = out["metrics"]["test"]
    assert set(test) == {"rmse", "mae", "r2", "pinball@0.8", "coverage@0.8"}
    assert 0.0 <= test["coverage@0.8"] <= 1.0 and test["pinball@0.8"] > 0
