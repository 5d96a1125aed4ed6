"""Policy features of the service, in process (httpx over ASGI; the real-server tests are in
test_serve.py): output hardening, flag mode, feature squeezing, budgets, categorical inputs,
a callable model, the shadow model, drift and extraction alerts."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx")

import pipeward as pw  # noqa: E402
from pipeward.datasets import load_breast_cancer  # noqa: E402
from pipeward.serve import KeyStore, Policy  # noqa: E402
from pipeward.serve.outputs import harden_probabilities  # noqa: E402
from pipeward.serve.policy import OutputRules  # noqa: E402


@pytest.fixture(scope="module")
def data():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, names = load_breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    return X, y, names, model


def make(source, policy=None, **kw):
    keys = KeyStore()
    key = keys.add("k", "admin")
    app = pw.serve.create_app(source, keys=keys, policy=policy, **kw)
    return app, {"X-API-Key": key}


def calls(app, headers, bodies):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return [await c.post("/v1/predict", json=b, headers=headers) for b in bodies]
    return asyncio.run(go())


def test_output_hardening_rounds_cuts_and_keeps_the_top_class():
    P = np.array([[0.1234567, 0.5, 0.3765433], [0.9, 0.05, 0.05]])
    X = np.arange(6.0).reshape(2, 3)
    out = harden_probabilities(P, X, OutputRules(top_k=1, round=2), b"k" * 32)
    np.testing.assert_array_equal(out, [[0, 0.5, 0], [0.9, 0, 0]])
    noisy = harden_probabilities(P, X, OutputRules(noise=0.2, round=-1), b"k" * 32)
    again = harden_probabilities(P, X, OutputRules(noise=0.2, round=-1), b"k" * 32)
    np.testing.assert_array_equal(noisy, again)  # same input, same noise
    assert not np.allclose(noisy, P)
    np.testing.assert_array_equal(noisy.argmax(axis=1), P.argmax(axis=1))
    np.testing.assert_allclose(noisy.sum(axis=1), 1.0)


def test_flag_mode_answers_and_counts_far_rows(data):
    X, _, _, model = data
    app, h = make(model, {"input": {"guard": "flag"}}, X_train=X)
    far = X.mean(axis=0)
    far[0], far[2], far[3] = X[:, 0].max(), X[:, 2].max(), X[:, 3].min()
    (r,) = calls(app, h, [{"inputs": [far.tolist()]}])
    assert r.status_code == 200
    svc = app.state.service
    text = svc.metrics.render().decode()
    assert 'pipeward_decisions_total{decision="flagged"} 1.0' in text
    svc.close()


def test_feature_squeezing_flags_rows_whose_label_flips(data):
    X, _, _, model = data
    app, h = make(model, {"input": {"guard": "off", "squeeze_decimals": 0}}, X_train=X)
    r = calls(app, h, [{"inputs": X[:40].tolist()}])[0]
    assert r.status_code == 200
    flips = int((model.predict(np.round(X[:40], 0)) != model.predict(X[:40])).sum())
    assert flips > 0
    text = app.state.service.metrics.render().decode()
    assert f'pipeward_decisions_total{{decision="squeeze_disagreement"}} {float(flips)}' in text
    app.state.service.close()


def test_daily_budget_counts_rows(data):
    X, _, _, model = data
    app, h = make(model, {"limits": {"daily_budget": 10}, "input": {"guard": "off"}}, X_train=X)
    r = calls(app, h, [{"inputs": X[:6].tolist()}, {"inputs": X[:4].tolist()}, {"inputs": X[:1].tolist()}])
    assert [x.status_code for x in r] == [200, 200, 429]
    assert r[2].json()["detail"] == "daily query budget" and int(r[2].headers["retry-after"]) > 0
    app.state.service.close()


def test_categorical_features_and_a_callable_model():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(10, 2, 300), "colour": rng.choice(["red", "blue"], 300)})

    def model(table):
        return np.where((table["colour"] == "red") & (table["size"] > 10), "yes", "no")

    app, h = make(model, {"input": {"guard": "off"}}, X_train=frame)
    ok, unknown, number = calls(app, h, [
        {"records": [{"size": 12.0, "colour": "red"}, {"size": 12.0, "colour": "blue"}]},
        {"records": [{"size": 12.0, "colour": "green"}]},
        {"records": [{"size": "12", "colour": "red"}]}])
    assert ok.json()["predictions"] == ["yes", "no"]
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["type"] == "unknown_category"
    assert number.status_code == 422 and number.json()["detail"][0]["field"] == "size"
    app.state.service.close()


def test_shadow_model_drift_and_extraction_alerts(data):
    from sklearn.dummy import DummyClassifier

    X, y, _, model = data
    shadow = DummyClassifier(strategy="constant", constant=0).fit(X, y)
    policy = {"input": {"guard": "off", "range_slack": 10.0}, "drift": {"window": 100},
              "extraction": {"min_queries": 30}, "limits": {"per_key": "1000/minute"}}
    app, h = make(model, policy, X_train=X, shadow=shadow)
    rng = np.random.default_rng(1)
    seeds = X[:3]
    synthetic = [seeds[i % 3] + rng.normal(size=30) * X.std(axis=0) * 0.01 for i in range(120)]
    shifted = (X[:100] * 1.5).tolist()
    calls(app, h, [{"inputs": [row.tolist()]} for row in synthetic] + [{"inputs": shifted}])
    svc = app.state.service
    assert svc.monitor.wait_idle(30)
    kinds = {a["alert"] for a in svc.monitor.alerts}
    assert {"drift", "extraction"} <= kinds
    text = svc.metrics.render().decode()
    assert "pipeward_drift_alarm 1.0" in text and "pipeward_extraction_alarm" in text
    expected = float(np.mean(model.predict(np.vstack([synthetic, shifted])) != 0))
    disagreement = float(next(line.split()[-1] for line in text.splitlines()
                              if line.startswith("pipeward_shadow_disagreement ")))
    assert disagreement == pytest.approx(expected)
    svc.close()


def test_policy_defaults_round_trip():
    p = Policy()
    assert p.allows("admin", "metrics") and not p.allows("user", "probabilities")
    assert Policy.from_dict({"input": {"guard": "off"}}).input.guard == "off"


def test_onnx_model_directory(data, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    X, y, names, model = data
    # The fitted pipeline written out as an ONNX graph by hand: scale, linear, softmax, argmax.
    scaler, lr = model[0], model[1]
    W = (lr.coef_ / scaler.scale_).T
    b = lr.intercept_ - (scaler.mean_ / scaler.scale_) @ lr.coef_.T
    W2 = np.hstack([np.zeros((30, 1)), W]).astype(np.float32)  # logits of class 0 and 1
    b2 = np.array([0.0, b[0]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["z0"]), helper.make_node("Add", ["z0", "b"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
         helper.make_node("ArgMax", ["z"], ["label"], axis=1, keepdims=0)],
        "lr", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 30])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(W2, "W"), numpy_helper.from_array(b2, "b")])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    onnx.save(onnx_model, tmp_path / "model.onnx")
    private_pem, public_pem = pw.generate_keypair()
    pw.serve.package(tmp_path / "model.onnx", X, tmp_path / "dir", private_key=private_pem, y=y,
                     feature_names=names)
    bundle = pw.serve.load_model_dir(tmp_path / "dir", public_pem)
    assert bundle.model.kind == "onnx" and bundle.schema.classes == (0, 1)
    app, h = make(bundle, {"input": {"guard": "off"}})
    (r,) = calls(app, h, [{"inputs": X[:50].tolist()}])
    assert r.json()["predictions"] == model.predict(X[:50]).tolist()
    np.testing.assert_allclose(r.json()["probabilities"], np.round(model.predict_proba(X[:50]), 4), atol=2e-4)
    app.state.service.close()


@pytest.mark.parametrize("n", [3, 4, 5, 6, 11, 50, 499, 5000])
@pytest.mark.parametrize("dist", ["normal", "exponential", "uniform"])
def test_shapiro_w_matches_scipy(n, dist):
    from scipy.stats import shapiro

    from pipeward.serve.extraction import shapiro_w

    x = getattr(np.random.default_rng(n), dist)(size=n)
    assert shapiro_w(x) == pytest.approx(shapiro(x).statistic, abs=1e-7)
    with pytest.raises(ValueError, match="3 to 5000"):
        shapiro_w(x[:2])


def test_jwt_verifier_rs256_and_claims(tmp_path):
    import time

    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from pipeward.serve.auth import JwtVerifier
    from pipeward.serve.policy import JwtRules

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    verifier = JwtVerifier(JwtRules(issuer="iss", audience="aud", public_key="rsa.pub",
                                    algorithms=("RS256",)), tmp_path)
    now = int(time.time())
    claims = {"sub": "svc", "role": "user", "iss": "iss", "aud": "aud", "exp": now + 60}
    assert verifier.verify(jwt.encode(claims, key, algorithm="RS256")).role == "user"
    assert verifier.verify(jwt.encode({**claims, "exp": now - 1}, key, algorithm="RS256")) is None
    assert verifier.verify(jwt.encode({k: v for k, v in claims.items() if k != "role"}, key,
                                      algorithm="RS256")) is None
    # An HS256 token keyed with the public key text (the classic algorithm confusion) fails.
    forged = jwt.encode(claims, b"x" * 64, algorithm="HS256")
    assert verifier.verify(forged) is None


def test_alerts_reach_the_webhook(data):
    import http.server
    import json
    import threading

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        X, _, _, model = data
        url = f"http://127.0.0.1:{server.server_address[1]}/alert"
        app, h = make(model, {"input": {"guard": "off", "range_slack": 10.0},
                              "drift": {"window": 100}, "extraction": {"enabled": False},
                              "alerts": {"webhook": url}}, X_train=X)
        calls(app, h, [{"inputs": (X[:100] * 1.5).tolist()}])
        assert app.state.service.monitor.wait_idle(30)
        app.state.service.close()
    finally:
        server.shutdown()
        server.server_close()
    assert received and received[0]["alert"] == "drift" and received[0]["rows"] == 100


def test_a_model_fault_is_a_500_that_is_counted_and_audited(data, tmp_path):
    X, _, _, _ = data

    def broken(_):
        raise RuntimeError("the model's own bug")

    keys = KeyStore()
    key = keys.add("k", "admin")
    app = pw.serve.create_app(broken, keys=keys, X_train=X, audit=tmp_path / "a.db",
                              policy={"input": {"guard": "off"}})

    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.post("/v1/predict", json={"inputs": X[:1].tolist()}, headers={"X-API-Key": key})

    assert asyncio.run(go()).status_code == 500
    svc = app.state.service
    assert 'pipeward_requests_total{route="/v1/predict",status="500"} 1.0' in svc.metrics.render().decode()
    svc.close()
    with pw.AuditLog(tmp_path / "a.db", readonly=True) as log:
        (record,) = log.records(action="serve.request")
    assert record.payload["status"] == 500 and record.payload["decision"] == "error"
