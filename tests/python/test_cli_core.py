"""The losslab command: list / explain / eval / train / compare, data rules, errors.

Runs ``losslab.cli.main([...])`` in-process (and once as ``python -m
losslab.cli`` in a subprocess) on bundled data with few epochs and small
subsets. Oracles: PyTorch (loss values and gradients of ``eval``), NumPy
(metrics recomputed from the out-of-fold predictions and from the saved
checkpoint), scikit-learn (stratified fold shares are checked by counting).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import losslab
from losslab.cli import main
from losslab.cli import data as cli_data
from losslab.cli import losses as cli_losses
from losslab.cli.compare import run_compare
from losslab.cli.errors import CliError

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    # Bundled data are found from the working directory or LOSSLAB_DATA_DIR.
    monkeypatch.setenv("LOSSLAB_DATA_DIR", str(REPO / "data"))
    monkeypatch.setenv("LOSSLAB_PROGRESS", "0")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def parse_table(text: str):
    """Rows of an aligned table (columns separated by 2+ spaces), header first."""
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln and set(ln.replace(" ", "")) == {"-"})
    header = re.split(r"\s{2,}", lines[k - 1].strip())
    rows = []
    for ln in lines[k + 1 :]:
        if not ln.strip() or ln.startswith("("):
            break
        cells = re.split(r"\s{2,}", ln.strip())
        assert len(cells) == len(header), (ln, header)
        rows.append(dict(zip(header, cells)))
    return header, rows


# --------------------------------------------------------------------------- list / explain


def test_list_covers_every_loss_of_the_extension(capsys):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)["losses"]}
    every_loss = {n for n in dir(losslab._core) if n.endswith("_loss") or n in losslab.CLASSIFICATION_LOSSES}
    every_loss |= set(losslab.REGRESSION_LOSSES) | {"cross_entropy", "linear_cross_entropy"}
    every_loss -= {"log_loss"}  # a metric (sklearn.metrics.log_loss), not a training loss
    assert every_loss <= names, every_loss - names
    assert set(losslab.trainable_losses()) <= {r["name"] for r in json.loads(out)["losses"] if r["trainable"]}
    # every loss the engine trains has a spec for train / compare
    assert set(losslab.trainable_losses()) <= {s.loss for s in cli_losses.SPECS.values()}
    code, out, _ = run(capsys, "list", "--family", "regression")
    header, rows = parse_table(out)
    assert header == ["name", "family", "spec", "description"]
    assert {r["family"] for r in rows} == {"regression"}
    assert any(r["name"] == "huber_loss" and r["spec"] == "huber" for r in rows)


def test_explain_gives_formula_parameters_and_rules(capsys):
    code, out, _ = run(capsys, "explain", "huber")
    assert code == 0
    for word in ("huber_loss", "formula:", "delta = 1.0", "use when:", "avoid when:", "gradient:", "huber[:delta]"):
        assert word in out
    code, out, _ = run(capsys, "explain", "mae", "--json")
    d = json.loads(out)
    assert d["name"] == "l1_loss" and "outlier" in d["use_when"]


# --------------------------------------------------------------------------- eval


def test_eval_matches_torch_values_and_gradients(capsys, tmp_path, rng):
    x = rng.normal(size=(40,)) * 3
    y = rng.normal(size=(40,))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    g = tmp_path / "g.npy"
    code, out, _ = run(capsys, "eval", "huber", "--input", str(tmp_path / "x.npy"), "--target",
                       str(tmp_path / "y.npy"), "--delta", "1.5", "--grad", str(g), "--json")
    assert code == 0
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.huber_loss(xt, torch.tensor(y), delta=1.5)  # oracle: torch
    ref.backward()
    assert json.loads(out)["value"] == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(np.load(g), xt.grad.numpy(), rtol=1e-12)
    # spec form and CSV input (with a header) give the same
    np.savetxt(tmp_path / "x.csv", x, header="pred", comments="", fmt="%.17g")
    code, out, _ = run(capsys, "eval", "huber:1.5", "--input", str(tmp_path / "x.csv"), "--target", str(tmp_path / "y.npy"))
    assert code == 0 and float(out.split("=")[1]) == pytest.approx(ref.item(), rel=1e-9)

    logits = rng.normal(size=(16, 5))
    labels = rng.integers(0, 5, 16)
    np.save(tmp_path / "l.npy", logits)
    np.savetxt(tmp_path / "t.csv", labels, fmt="%d")
    code, out, _ = run(capsys, "eval", "cross_entropy", "--input", str(tmp_path / "l.npy"), "--target",
                       str(tmp_path / "t.csv"), "--label-smoothing", "0.1", "--json")
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), label_smoothing=0.1)
    assert code == 0 and json.loads(out)["value"] == pytest.approx(ref.item(), rel=1e-12)

    a, p, n = (rng.normal(size=(6, 3)) for _ in range(3))
    for name, arr in zip("apn", (a, p, n)):
        np.save(tmp_path / f"{name}.npy", arr)
    code, out, _ = run(capsys, "eval", "triplet_margin_loss", "--input", str(tmp_path / "a.npy"), "--target",
                       str(tmp_path / "p.npy"), "--negative", str(tmp_path / "n.npy"), "--margin", "0.5", "--json")
    ref = torch.nn.functional.triplet_margin_loss(*(torch.tensor(v) for v in (a, p, n)), margin=0.5)
    assert code == 0 and json.loads(out)["value"] == pytest.approx(ref.item(), rel=1e-10)


# --------------------------------------------------------------------------- data rules


def test_detect_task_and_label_rules():
    assert cli_data.detect_task(np.array(["a", "b", "a"], dtype=object)) == "binary"
    assert cli_data.detect_task(np.array(["a", "b", "c"], dtype=object)) == "multiclass"
    assert cli_data.detect_task(np.array([0.0, 1.0, 1.0])) == "binary"
    assert cli_data.detect_task(np.repeat(np.arange(10.0), 6)) == "multiclass"
    assert cli_data.detect_task(np.repeat(np.arange(10.0), 2)) == "regression"  # too few rows per value
    assert cli_data.detect_task(np.linspace(0, 1, 50)) == "regression"
    ds = cli_data.load_bundled("lending_club")
    assert ds.classes == ["good", "bad"] and ds.y.mean() == pytest.approx(517 / 9857)  # rare "bad" = 1
    bc = cli_data.load_bundled("breast_cancer")
    assert bc.classes[1] == "malignant" and bc.y.sum() == 212


def test_table_to_dataset_one_hot_missing_and_standardizer(tmp_path):
    (tmp_path / "d.csv").write_text("num,cat,y\n1,a,1.5\nNA,b,2.5\n3,,3.5\n5,a,\n")
    t = cli_data.read_csv(tmp_path / "d.csv")
    ds = cli_data.dataset_from_table(t, "y", task="regression")
    assert ds.feature_names == ["num", "cat=a", "cat=b", "cat=missing"]
    # NA stays NaN in the dataset: it is imputed per training fold.
    np.testing.assert_array_equal(ds.X, [[1, 1, 0, 0], [np.nan, 0, 1, 0], [3, 0, 0, 1]])
    assert ds.missing == {"y": 1, "num": 1, "cat": 1}
    s = cli_data.Standardizer().fit(ds.X[:2])
    z = s.transform(ds.X)
    np.testing.assert_allclose(z[:2].mean(axis=0), 0, atol=1e-7)
    assert np.all(z[:, 3] == 0)  # zero-variance column on the training rows stays 0
    # The fill is the median of the TRAINING rows (rows 0 and 2 -> median 2;
    # rows 0 and 1 -> 1, the only present value), never of held-out rows.
    s2 = cli_data.Standardizer().fit(ds.X[[0, 2]])
    assert s2.fill_[0] == 2.0 and s.fill_[0] == 1.0
    np.testing.assert_allclose(s2.transform(ds.X)[1, 0], 0.0, atol=1e-7)  # 2 is the mean of 1, 3
    assert np.isfinite(z).all()


def test_stratified_folds_keep_class_shares():
    y = np.array([0] * 90 + [1] * 10)
    folds = cli_data.kfold_indices(100, 5, 0, y)
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(100))
    assert [int(y[te].sum()) for _, te in folds] == [2] * 5


def test_loss_specs():
    s = cli_losses.parse_loss_spec("huber:1.5")
    assert (s.name, s.options, s.label) == ("huber_loss", {"delta": 1.5}, "huber(δ=1.5)")
    assert cli_losses.parse_loss_spec("quantile:quantile=0.9").options == {"quantile": 0.9}
    assert cli_losses.parse_loss_spec("focal:3").options == {"gamma": 3.0, "alpha": "auto"}
    assert cli_losses.parse_loss_spec("l1").name == "l1_loss"
    opts = cli_losses.resolve_options(cli_losses.parse_loss_spec("weighted_bce"), np.array([0, 0, 0, 1]), 2)
    assert opts == {"pos_weight": 3.0}
    for bad, msg in [("hubr", "unknown loss"), ("huber:0", "delta must be > 0"), ("quantile:1.5", r"\(0, 1\)"),
                     ("huber:delta=1:x=2", "no option 'x'"), ("mse:1", "takes no parameters")]:
        with pytest.raises(CliError, match=msg):
            cli_losses.parse_loss_spec(bad)


# --------------------------------------------------------------------------- train


def test_train_saves_checkpoint_curves_and_metrics(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--dataset", "ames", "--max-rows", "500", "--loss", "huber", "--delta", "0.8",
                         "--model", "mlp:16", "--epochs", "2", "--warmup", "5", "--clip-norm", "1", "--out-dir", str(out_dir), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["options"] == {"delta": 0.8} and summary["epochs_run"] == 2
    files = summary["files"]
    rows = (out_dir / "curves.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss,val_loss") and len(rows) == 3
    # The learning curves as a figure: PNG of the stated pixel size (IHDR) + SVG.
    from losslab.cli import plots

    png = pathlib.Path(files["curves_png"]).read_bytes()
    w, h = plots.FIGSIZES["learning_curves"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (round(w * plots.DPI), round(h * plots.DPI))
    assert pathlib.Path(files["curves_svg"]).read_text().lstrip().startswith("<?xml")
    # Oracle: reload the checkpoint, apply preprocess.json by hand and recompute the test RMSE with NumPy.
    model = losslab.nn.load(files["checkpoint"])
    pre = json.loads(pathlib.Path(files["preprocess"]).read_text())
    ds = cli_data.load_dataset(type("A", (), {"data": None, "dataset": "ames", "target": None, "task": "auto",
                                              "seed": 0, "max_rows": 500})())
    _, te = cli_data.train_test_indices(ds.n_samples, 0.2, 0)
    z = (ds.X[te] - np.array(pre["x_mean"])) / np.array(pre["x_scale"])
    z[:, np.array(pre["x_constant"])] = 0.0
    pred = model.predict(z.astype(np.float32))[:, 0] * pre["y_scale"] + pre["y_mean"]
    rmse = float(np.sqrt(np.mean((pred - ds.y[te]) ** 2)))
    assert summary["metrics"]["test"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    # table output
    code, out, _ = run(capsys, "train", "--dataset", "digits", "--max-rows", "300", "--epochs", "2", "--out-dir", str(tmp_path / "d"))
    header, table = parse_table(out)
    assert code == 0 and header == ["split", "accuracy", "macro_f1"] and [r["split"] for r in table] == ["train", "test"]


def test_train_progress_bar_shows_live_loss_and_metric(capsys, tmp_path, monkeypatch):
    # Forced on (stderr is not a TTY under pytest): a redrawn line per update, ending at 3/3
    # with the live loss and validation metric, cleared at the end; never with --json.
    monkeypatch.setenv("LOSSLAB_PROGRESS", "1")
    code, out, err = run(capsys, "train", "--dataset", "digits", "--max-rows", "200", "--model", "linear",
                         "--epochs", "3", "--out-dir", str(tmp_path / "p"))
    assert code == 0
    frames = [f for f in err.split("\r") if f.strip("\x1b[K\n")]
    last = frames[-1]
    assert last.startswith("train ce") and "3/3" in last, err
    assert re.search(r"loss=[0-9.]+", last) and re.search(r"accuracy=[0-9.]+", last), last
    assert err.endswith("\r\x1b[K")  # the bar is erased before the table is printed
    code, out, err = run(capsys, "train", "--dataset", "digits", "--max-rows", "200", "--model", "linear",
                         "--epochs", "3", "--out-dir", str(tmp_path / "q"), "--json")
    assert code == 0 and err == "" and json.loads(out)["epochs_run"] == 3


# --------------------------------------------------------------------------- compare


def _check_schema(d, task, n_losses, folds):
    top = {"dataset": str, "target": str, "task": str, "n_samples": int, "n_features": int, "folds": int, "model": str,
           "epochs": int, "optimizer": str, "lr": float, "seed": int, "metrics": list, "higher_is_better": dict,
           "losses": list, "interrupted": bool}
    for k, t in top.items():
        assert isinstance(d[k], t), k
    # Keys added after the first schema (what was done to the data).
    assert isinstance(d["missing"], dict) and isinstance(d["notes"], list)
    assert d["standardize_target"] is (True if task == "regression" else None)
    assert isinstance(d["metric_targets"], dict) and set(d["metric_targets"]) <= set(d["metrics"])
    assert set(d) == set(top) | {"n_classes", "classes", "missing", "notes", "standardize_target", "metric_targets"}
    assert d["task"] == task and d["folds"] == folds and len(d["losses"]) == n_losses
    assert set(d["higher_is_better"]) == set(d["metrics"])
    keys = {"spec", "label", "loss", "options", "metrics", "epochs_to_converge", "time_s", "best", "curves", "oof"}
    for e in d["losses"]:
        assert set(e) == keys
        for m in d["metrics"]:
            assert set(e["metrics"][m]) == {"mean", "std", "folds"} and len(e["metrics"][m]["folds"]) == folds
        assert set(e["epochs_to_converge"]) == {"mean", "std"} and set(e["time_s"]) == {"mean", "std"}
        assert len(e["curves"]) == folds
        for c in e["curves"]:
            assert set(c) == {"epoch", "train_loss", "val_loss"} and len(c["epoch"]) == d["epochs"]
        assert set(e["oof"]) == {"y_true", "y_pred", "proba"} and len(e["oof"]["y_true"]) == d["n_samples"]
    for m in d["metrics"]:  # every metric has at least one best loss
        assert any(m in e["best"] for e in d["losses"])


def test_compare_regression_table_json_and_metrics(capsys, tmp_path):
    args = ["compare", "--dataset", "ames", "--max-rows", "400", "--losses", "mse,mae,huber:1,quantile:0.9",
            "--folds", "2", "--epochs", "2", "--model", "mlp:16", "--out-dir", str(tmp_path), "--no-report"]
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    d = json.loads(out)
    _check_schema(d, "regression", 4, 2)
    # quantile:0.9 among the losses adds its pinball loss and coverage.
    assert d["metrics"] == ["rmse", "mae", "r2", "pinball@0.9", "coverage@0.9"] and d["n_classes"] is None
    assert [e["label"] for e in d["losses"]] == ["mse", "mae", "huber(δ=1)", "quantile(q=0.9)"]
    # Oracle: NumPy metrics per fold from the out-of-fold predictions and the same folds.
    folds = cli_data.kfold_indices(d["n_samples"], 2, 0, None)
    for e in d["losses"]:
        yt, yp = np.array(e["oof"]["y_true"]), np.array(e["oof"]["y_pred"])
        for k, (_, te) in enumerate(folds):
            assert e["metrics"]["rmse"]["folds"][k] == pytest.approx(np.sqrt(np.mean((yp[te] - yt[te]) ** 2)), rel=1e-9)
            assert e["metrics"]["mae"]["folds"][k] == pytest.approx(np.mean(np.abs(yp[te] - yt[te])), rel=1e-9)
            r = yt[te] - yp[te]
            assert e["metrics"]["pinball@0.9"]["folds"][k] == pytest.approx(
                np.mean(np.maximum(0.9 * r, -0.1 * r)), rel=1e-6)
            assert e["metrics"]["coverage@0.9"]["folds"][k] == np.mean(yt[te] <= yp[te])
    assert json.loads((tmp_path / "compare.json").read_text())["losses"][0]["spec"] == "mse"
    code, out, _ = run(capsys, *args)
    header, rows = parse_table(out)
    assert header == ["loss", "rmse", "mae", "r2", "pinball@0.9", "coverage@0.9", "epochs", "time_s"]
    assert len(rows) == 4
    for m in ("rmse", "mae", "r2"):
        assert sum(r[m].endswith("*") for r in rows) >= 1
        assert all(re.match(r"^-?[\d.]+ ± [\d.]+( \*)?$", r[m]) for r in rows)


def test_compare_binary_lending_club(capsys, tmp_path):
    code, out, _ = run(capsys, "compare", "--dataset", "lending_club", "--max-rows", "1200", "--folds", "2",
                       "--epochs", "2", "--model", "linear", "--lr", "0.01", "--out-dir", str(tmp_path), "--no-report", "--json")
    assert code == 0
    d = json.loads(out)
    _check_schema(d, "binary", 3, 2)
    assert [e["spec"] for e in d["losses"]] == ["bce", "weighted_bce", "focal"]
    assert d["classes"] == ["good", "bad"] and d["n_classes"] == 2
    for e in d["losses"]:
        proba = np.array(e["oof"]["proba"])
        assert proba.shape == (d["n_samples"],) and np.all((proba >= 0) & (proba <= 1))
        assert 0 <= e["metrics"]["recall"]["mean"] <= 1
    # re-weighting catches more of the rare class than plain BCE at threshold 0.5
    rec = {e["spec"]: e["metrics"]["recall"]["mean"] for e in d["losses"]}
    assert rec["weighted_bce"] > rec["bce"]


def test_compare_on_a_messy_user_csv(capsys, tmp_path, rng):
    # BOM, ';' separator, decimal commas, quoted text with the separator, NA / empty cells,
    # and two rows without a target (dropped and reported).
    lines = ["\ufeffsize;kind;\"note\";price"]
    for i in range(60):
        size = rng.uniform(50, 200)
        kind = ["flat", "house", "NA"][i % 3]
        price = "" if i in (5, 9) else f"{3 * size + (40 if kind == 'house' else 0) + rng.normal(0, 5):.2f}".replace(".", ",")
        size_txt = "NA" if i % 17 == 0 else f"{size:.1f}".replace(".", ",")
        lines.append(f'{size_txt};{kind};"a; b";{price}')
    p = tmp_path / "messy.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "compare", str(p), "--target", "price", "--losses", "mse,huber", "--folds", "2",
                         "--epochs", "2", "--out-dir", str(tmp_path / "o"), "--no-report", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["task"] == "regression" and d["n_samples"] == 58 and d["target"] == "price"
    # size (numeric) + kind one-hot (flat, house, missing) + note one-hot (one level)
    assert d["n_features"] == 1 + 3 + 1
    code, out, _ = run(capsys, "compare", str(p), "--target", "price", "--losses", "mse", "--folds", "2",
                       "--epochs", "1", "--out-dir", str(tmp_path / "o"), "--no-report")
    assert "dropped 2 rows whose target 'price' is missing" in out
    assert "missing values: size: 4, kind: 19" in out
    # Counted by hand from the generator above: 2 targets (dropped), size NA for i % 17 == 0,
    # kind NA for i % 3 == 2 except the dropped row 5. Reported in the JSON and the report too.
    assert d["missing"] == {"price": 2, "size": 4, "kind": 19}
    assert any("dropped 2 rows" in n for n in d["notes"])
    from losslab.cli.report import write_compare_report

    html = write_compare_report(d, tmp_path / "rep").read_text(encoding="utf-8")
    assert "<dt>missing values</dt>" in html and "dropped 2 rows" in html
    assert all(f"{k}: {v}" in html for k, v in d["missing"].items())


@pytest.mark.skipif("dice_cross_entropy_loss" not in losslab.trainable_losses(), reason="engine without Dice training")
def test_compare_segmentation_pixels_with_dice_ce(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "--dataset", "brain_mri", "--max-rows", "2000", "--folds", "2", "--epochs", "2",
                         "--batch-size", "256", "--out-dir", str(tmp_path), "--no-report", "--json")
    assert code == 0, err
    d = json.loads(out)
    _check_schema(d, "binary", 3, 2)
    assert [e["spec"] for e in d["losses"]] == ["bce", "dice_ce", "dice"]
    assert d["n_samples"] == 2000 and d["n_features"] == 25
    for e in d["losses"]:
        assert e["metrics"]["roc_auc"]["mean"] > 0.8  # T1 intensity separates brain from background


def test_compare_interrupt_keeps_finished_runs(capsys, tmp_path, monkeypatch):
    import losslab.cli.compare as cmp

    real = cmp.fit_model
    calls = {"n": 0}

    def fake(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # second loss, first fold
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cmp, "fit_model", fake)
    code, out, err = run(capsys, "compare", "--dataset", "breast_cancer", "--losses", "bce,hinge", "--folds", "2",
                         "--epochs", "1", "--out-dir", str(tmp_path), "--no-report")
    assert code == 130
    assert "interrupted; kept 1 finished runs" in err
    _, rows = parse_table(out)
    assert [r["loss"] for r in rows] == ["bce"]
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["interrupted"] is True and len(saved["losses"]) == 1


def test_train_interrupt_saves_the_finished_epochs(capsys, tmp_path, monkeypatch):
    from losslab.cli import output

    real = output.Progress.update

    def update(self, n=1, **values):  # Ctrl-C as the bar is drawn after epoch 2
        real(self, n, **values)
        if self.n == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(output.Progress, "update", update)
    out_dir = tmp_path / "t"
    code, out, err = run(capsys, "train", "--dataset", "breast_cancer", "--model", "linear", "--epochs", "50",
                         "--out-dir", str(out_dir))
    assert code == 130
    assert "interrupted; kept 2 finished epochs" in err
    _, rows = parse_table(out)
    assert [r["split"] for r in rows] == ["train", "test"]  # the metrics of the weights reached
    assert len((out_dir / "curves.csv").read_text().splitlines()) == 1 + 2
    assert losslab.nn.load(str(out_dir / "model.ckpt")).in_features == 30
    assert (out_dir / "learning_curves.png").stat().st_size > 1000


# --------------------------------------------------------------------------- errors


BAD = [
    (["train", "nofile.csv", "--target", "y"], "no such file"),
    (["compare", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
    (["compare", "{csv}", "--target", "name", "--task", "regression"], "not numeric"),
    (["compare", "{csv}", "--target", "const"], "single class"),
    (["compare", "{csv}", "--target", "y", "--losses", "mse,hubr"], "unknown loss 'hubr' (did you mean 'huber'?)"),
    (["compare", "{csv}", "--target", "y", "--losses", "huber:delta=1:bogus=2"], "no option 'bogus'"),
    (["train", "{csv}", "--target", "y", "--loss", "mse", "--delta", "1"], "--delta does not apply"),
    (["train", "{csv}", "--target", "y", "--bogus", "1"], "unrecognized arguments"),
    (["eval", "huber", "--input", "{npy}", "--target", "{npy}", "--bogus", "1"], "does not accept"),
    (["compare", "{ragged}", "--target", "y"], "line 3: expected 3 fields, found 2"),
    (["compare", "{csv}", "--target", "y", "--fodls", "2"], "unrecognized arguments: --fodls 2 (did you mean --folds?)"),
    (["compare", "{csv}", "--target", "y", "--folds", "x"], "argument --folds: invalid int value"),
    (["eval", "huber", "--input", "{npy}", "--target", "{npy}", "--delta", "abc"], "--delta 'abc' is not a number"),
    (["eval", "hubr", "--input", "{npy}", "--target", "{npy}"], "unknown loss 'hubr'"),
    (["eval", "huber", "--input", "nofile.npy", "--target", "{npy}"], "no such file"),
    (["compare", "{unclosed}", "--target", "y"], "line 3: expected 3 fields, found 2; a quote (\") opened on this line runs over the next 2 line(s)"),
    # The same cases for every command that reads data (recommend, landscape, train).
    (["recommend", "nofile.csv", "--target", "y"], "no such file"),
    (["recommend", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
    (["recommend", "{csv}", "--target", "name", "--task", "regression"], "not numeric"),
    (["recommend", "{csv}", "--target", "const"], "single class"),
    (["recommend", "{csv}", "--target", "y", "--bogus", "1"], "unrecognized arguments"),
    (["landscape", "nofile.csv", "--target", "y", "--loss", "mse"], "no such file"),
    (["landscape", "{csv}", "--target", "nope", "--loss", "mse"], "target column 'nope' is not in"),
    (["landscape", "{csv}", "--target", "name", "--task", "regression", "--loss", "mse"], "not numeric"),
    (["landscape", "{csv}", "--target", "const", "--loss", "bce"], "single class"),
    (["landscape", "{csv}", "--target", "y", "--loss", "hubr"], "unknown loss 'hubr'"),
    (["landscape", "{csv}", "--target", "y", "--loss", "mse", "--bogus"], "unrecognized arguments"),
    (["train", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
    (["train", "{csv}", "--target", "name", "--task", "regression"], "not numeric"),
    (["train", "{csv}", "--target", "const"], "single class"),
    (["train", "{csv}", "--target", "y", "--loss", "hubr"], "unknown loss 'hubr'"),
    (["plot", "hubr"], "cannot plot 'hubr'"),
    (["plot", "huber", "--bogus"], "unrecognized arguments"),
    (["plot"], "the following arguments are required: LOSS"),
    (["list", "--bogus"], "unrecognized arguments"),
    (["explain", "hubr"], "unknown loss 'hubr' (did you mean 'huber'?)"),
]


@pytest.fixture
def bad_files(tmp_path):
    rows = ["y,name,const"] + [f"{i % 7 * 1.5},n{i % 3},k" for i in range(30)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "r.csv").write_text("y,a,b\n1,2,3\n4,5\n")
    (tmp_path / "u.csv").write_text('y,a,b\n1,2,3\n4,"5,6\n7,8,9\n')
    np.save(tmp_path / "a.npy", np.zeros(3))
    return {"csv": str(tmp_path / "d.csv"), "ragged": str(tmp_path / "r.csv"), "npy": str(tmp_path / "a.npy"),
            "unclosed": str(tmp_path / "u.csv")}


@pytest.mark.parametrize("argv,msg", BAD, ids=[f"{b[0][0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_exits_2_with_one_line(capsys, bad_files, argv, msg):
    argv = [a.format(**bad_files) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert msg in err
    assert "Traceback" not in err
    # One line, argparse's usage errors included (no usage block).
    assert err.count("\n") == 1 and err.startswith(f"losslab {argv[0]}: error: "), err


def test_python_dash_m_subprocess(bad_files, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(losslab.__file__).parents[1]), LOSSLAB_DATA_DIR=str(REPO / "data"))
    ok = subprocess.run([sys.executable, "-m", "losslab.cli", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "huber_loss" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "losslab.cli", "compare", bad_files["csv"], "--target", "nope"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "available columns: y, name, const" in bad.stderr


def test_train_on_too_few_rows_per_class_is_a_cli_hint(capsys, tmp_path):
    """Two rows of two classes: the stratified split has no test row. The
    command says so with the fix (not the engine's 'validation x is empty')."""
    p = tmp_path / "two.csv"
    p.write_text("x,y\n1,2\n3,4\n")
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--out-dir", str(tmp_path / "o"))
    assert code != 0
    assert "leave the test split empty" in err and "add rows" in err
    assert "validation x" not in err
    # The split itself: every class keeps one row on each side once it has 2.
    tr, te = cli_data.train_test_indices(4, 0.2, 0, np.array([0, 0, 1, 1]))
    assert sorted(np.concatenate([tr, te]).tolist()) == [0, 1, 2, 3] and te.size == 2
