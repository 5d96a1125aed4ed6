"""``pipeward redteam``: attacks a skops model, records to the audit log, gates with exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import pipeward as pw
from pipeward.cli import main

sio = pytest.importorskip("skops.io", reason="skops loads the model: pip install .[redteam]")
pd = pytest.importorskip("pandas")


@pytest.fixture()
def saved(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rng = np.random.default_rng(0)
    member = rng.random(len(X)) < 0.5
    model = LogisticRegression(C=10.0, max_iter=2000).fit(X[member], y[member])
    sio.dump(model, tmp_path / "model.skops")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["target"] = y
    df["trained"] = member.astype(int)
    df.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path, model, X, y


def test_json_results_match_the_api_and_go_to_the_audit_log(saved, capsys):
    tmp, model, X, y = saved
    code = main(["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion,membership,extraction", "--eps", "0.2",
                 "--budget", "100", "--audit", str(tmp / "audit.db"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["failures"] == []
    evasion = next(r for r in out["results"] if r["attack"] == "pgd")
    want = pw.redteam.pgd(model, X, y, 0.2, 0.05, 20)
    assert evasion["robust_accuracy"] == pytest.approx(want.robust_accuracy, abs=1e-12)
    assert {r["attack"] for r in out["results"]} == {"pgd", "membership", "extraction"}
    log = pw.AuditLog(tmp / "audit.db")
    assert [r.action for r in log.records()] == ["redteam.pgd", "redteam.membership", "redteam.extraction"]


def test_policy_lines_exit_1(saved, capsys):
    tmp, *_ = saved
    code = main(["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion", "--eps", "0.5",
                 "--min-robust-accuracy", "0.99"])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED: robust accuracy" in out


def test_usage_errors_exit_2(saved, capsys, tmp_path):
    tmp, *_ = saved
    base = ["--data", str(tmp / "data.csv"), "--labels", "target", "--members", "trained"]
    assert main(["redteam", str(tmp / "missing.skops"), *base]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base, "--attacks", "voodoo"]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base[:4], "--attacks", "membership"]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base, "--eps", "-1"]) == 2
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04N.")
    for junk in ("junk.onnx", "junk.skops", "model.pkl"):
        assert main(["redteam", str(tmp_path / junk), *base]) == 2
    err = capsys.readouterr().err
    assert err.count("pipeward redteam: error:") == 7 and "Traceback" not in err
    assert "not a usable ONNX model" in err and "not a skops file" in err and "expected a model directory" in err


def test_security_testing_section_reads_the_records(saved, tmp_path):
    from pipeward.redteam.card import security_testing_markdown

    tmp, model, X, y = saved
    log = pw.AuditLog(tmp_path / "card.db")
    assert "missing" in security_testing_markdown(log)
    res = pw.redteam.pgd(model, X, y, 0.2, 0.05, 5)
    rec = res.record(log, subject="model-a")
    pw.redteam.fgsm(model, X, y, 0.1).record(log, subject="model-b")
    text = security_testing_markdown(log, subject="model-a")
    assert f"robust_accuracy {res.robust_accuracy:.4g}" in text and f"#{rec.seq} `{rec.hash[:12]}`" in text
    assert "fgsm" not in text and text.startswith("## Security testing")


def test_eps_list_gives_a_curve_and_policy_checks_are_recorded(saved, capsys):
    tmp, model, X, y = saved
    code = main(["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion,extraction", "--eps", "0.2,0.05",
                 "--budget", "60", "--min-robust-accuracy", "0.99", "--max-extraction-fidelity", "1.0",
                 "--audit", str(tmp / "gate.db"), "--model-name", "bc", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["mode"].startswith("white-box")
    assert [r["eps"] for r in out["results"] if r["attack"] == "pgd"] == [0.05, 0.2]
    robust = pw.redteam.pgd(model, X, y, 0.2, 0.05, 20).robust_accuracy
    assert out["checks"][0] == {"attack": "pgd", "metric": "robust_accuracy", "value": robust,
                                "threshold": 0.99, "passed": False}
    assert out["checks"][1]["passed"] is True and len(out["failures"]) == 1
    log = pw.AuditLog(tmp / "gate.db")
    actions = [r.action for r in log.records()]
    assert actions == ["redteam.pgd", "redteam.pgd", "redteam.extraction", "redteam.attack", "redteam.attack"]
    assert all(r.payload["model"] == "bc" for r in log.records())
    # the compliance check reads the failed line
    from pipeward.accountability import check_compliance

    verdict = {q["id"]: q["status"] for q in check_compliance(log, "gdpr").to_dict()["requirements"]}
    assert verdict["security-testing"] == "fail"


def _onnx_file(model, path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    W = np.hstack([np.zeros((model.coef_.shape[1], 1)), model.coef_.T]).astype(np.float32)
    b = np.array([0.0, model.intercept_[0]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["z0"]), helper.make_node("Add", ["z0", "b"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
         helper.make_node("ArgMax", ["z"], ["label"], axis=1, keepdims=0)],
        "lr", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, W.shape[0]])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def test_onnx_file_is_attacked_black_box(saved, capsys):
    pytest.importorskip("onnxruntime")
    tmp, model, X, y = saved
    path = _onnx_file(model, tmp / "model.onnx")
    code = main(["redteam", str(path), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion,membership", "--eps", "1.0",
                 "--black-box-rows", "4", "--max-membership-auc", "0.99", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mode"].startswith("black-box")
    hsj, mia = out["results"]
    assert hsj["attack"] == "hop_skip_jump" and hsj["rows"] == 4
    # the loss attack on the ONNX graph equals the one on the scikit-learn model it was made from
    members = (pd.read_csv(tmp / "data.csv")["trained"] == 1).to_numpy()
    want = pw.redteam.membership_inference(model, X, y, members, method="loss")
    assert mia["method"] == "loss" and mia["auc"] == pytest.approx(want.auc, abs=2e-3)


def test_packaged_model_directory(saved, capsys, tmp_path):
    pytest.importorskip("fastapi", reason="model directories need the serve extra")
    tmp, model, X, y = saved
    private_pem, public_pem = pw.generate_keypair()
    (tmp_path / "k.pub").write_bytes(public_pem)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    pw.serve.package(pipe, X, tmp_path / "dir", private_key=private_pem, y=y)
    base = ["--data", str(tmp / "data.csv"), "--labels", "target", "--members", "trained"]
    code = main(["redteam", str(tmp_path / "dir"), "--pubkey", str(tmp_path / "k.pub"), *base,
                 "--attacks", "evasion", "--eps", "0.2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mode"].startswith("white-box")  # scaler + logistic regression: gradients
    assert out["results"][0]["robust_accuracy"] == pw.redteam.pgd(pipe, X, y, 0.2, 0.05, 20).robust_accuracy
    assert main(["redteam", str(tmp_path / "dir"), *base]) == 2  # no --pubkey
    (tmp_path / "dir" / "model.skops").write_bytes(b"tampered")
    assert main(["redteam", str(tmp_path / "dir"), "--pubkey", str(tmp_path / "k.pub"), *base]) == 2
    err = capsys.readouterr().err
    assert "needs --pubkey" in err and "model.skops" in err and "Traceback" not in err


def test_poisoning_retrains_with_and_without_the_screen(saved, capsys):
    tmp, model, X, y = saved
    base = ["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
            "--members", "trained", "--attacks", "poisoning"]
    code = main([*base, "--poison", "backdoor", "--poison-rate", "0.05", "--max-poison-success", "0.5", "--json"])
    out = json.loads(capsys.readouterr().out)
    (res,) = out["results"]
    order = np.random.default_rng(0).permutation(len(X))
    a, b = order[: len(X) // 2], order[len(X) // 2:]
    from sklearn.base import clone

    want = pw.redteam.poison(lambda A, t: clone(model).fit(A, t), X[a], y[a], X[b], y[b], kind="backdoor",
                             rate=0.05, seed=0)
    assert res["attack_success"] == want.attack_success
    assert res["attack_success_screened"] == want.attack_success_screened
    assert code == (1 if want.attack_success_screened > 0.5 else 0)
    assert main([*base, "--poison-rate", "1.5"]) == 2
    onnx_path = _onnx_file(model, tmp / "p.onnx")
    assert main(["redteam", str(onnx_path), *base[2:]]) == 2  # nothing to retrain
    assert "needs a scikit-learn model" in capsys.readouterr().err
