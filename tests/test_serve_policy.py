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


# --- the guard on categorical features --------------------------------------------------------

def _colour_frame(n, rng):
    pd = pytest.importorskip("pandas")
    colour = rng.choice(["blue", "green", "red"], n)
    centre = {"blue": 10.0, "green": 20.0, "red": 0.0}
    size = np.array([centre[c] for c in colour]) + rng.normal(0, 1, n)
    return pd.DataFrame({"size": size, "weight": size * 2 + rng.normal(0, 1, n), "colour": colour})


def test_guard_matrix_is_pandas_one_hot_without_the_first_category():
    pd = pytest.importorskip("pandas")
    frame = _colour_frame(50, np.random.default_rng(3))
    schema = pw.serve.ModelSchema.from_training(frame)
    peer = pd.get_dummies(frame, columns=["colour"], drop_first=True, dtype=float).to_numpy()
    np.testing.assert_array_equal(schema.training_guard_matrix(frame), peer)
    assert schema.guard_width == peer.shape[1] == 4
    rows = schema.guard_matrix(np.array([[1.0, 2.0], [3.0, 4.0]]), [["blue", "red"]])
    np.testing.assert_array_equal(rows, [[1, 2, 0, 0], [3, 4, 0, 1]])
    with pytest.raises(ValueError, match="1 categorical columns, got 0"):
        schema.guard_matrix(np.zeros((1, 2)), [])


def test_guard_scores_categories_one_hot_in_a_packaged_model(tmp_path):
    """A red row of blue size is inside every single feature's range but not like any training
    row: the guard sees the category (one-hot beside the numbers) and rejects it, naming the
    row; the same size with its own colour passes; an unknown colour is a 422 naming the field."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(4)
    frame = _colour_frame(600, rng)
    y = (frame["size"] + rng.normal(0, 3, len(frame)) > 10).astype(int)
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
                          LogisticRegression(max_iter=1000)).fit(frame, y)
    private_pem, public_pem = pw.generate_keypair()
    pw.serve.package(model, frame, tmp_path / "dir", private_key=private_pem, y=y)
    bundle = pw.serve.load_model_dir(tmp_path / "dir", public_pem)
    assert bundle.guard.n_features == bundle.schema.guard_width == 4
    app, h = make(bundle)
    fits, misfit, unknown = calls(app, h, [
        {"records": [{"size": 10.2, "weight": 20.5, "colour": "blue"},
                     {"size": 0.3, "weight": 0.1, "colour": "red"}]},
        {"inputs": [[10.2, 20.5, "red"]]},
        {"inputs": [[10.2, 20.5, "purple"]]}])
    assert fits.status_code == 200, fits.text
    asked = type(frame)([{"size": 10.2, "weight": 20.5, "colour": "blue"},
                         {"size": 0.3, "weight": 0.1, "colour": "red"}])[list(frame.columns)]
    assert fits.json()["predictions"] == model.predict(asked).tolist()
    assert misfit.status_code == 422
    assert misfit.json()["detail"][0]["type"] == "out_of_distribution"
    assert misfit.json()["detail"][0]["loc"] == ["body", "inputs", 0]
    assert unknown.status_code == 422
    detail = unknown.json()["detail"][0]
    assert detail["type"] == "unknown_category" and detail["field"] == "colour"
    assert detail["loc"] == ["body", "inputs", 0, 2]
    app.state.service.close()


# --- the model off the event loop ----------------------------------------------------------------

def test_a_slow_model_runs_on_the_bounded_pool_not_the_event_loop(data):
    """While two calls sit inside a blocked model (threads=1 running, queue=1 waiting... the
    running one), /healthz still answers, and a third concurrent call gets 503 + Retry-After
    at once; releasing the model answers the two."""
    import threading

    X, _, _, _ = data
    release = threading.Event()
    inside = []

    def slow(table):
        inside.append(1)
        release.wait(20)
        return np.zeros(len(table), dtype=int)

    app, h = make(slow, {"input": {"guard": "off"}, "model": {"threads": 1, "queue": 1}}, X_train=X)
    pool = app.state.service.pool

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            body = {"inputs": X[:1].tolist()}
            first = asyncio.create_task(c.post("/v1/predict", json=body, headers=h))
            second = asyncio.create_task(c.post("/v1/predict", json=body, headers=h))
            while pool.in_flight < 2:
                await asyncio.sleep(0.01)
            third = await c.post("/v1/predict", json=body, headers=h)
            health = await c.get("/healthz")
            in_flight_during_health = pool.in_flight
            release.set()
            return await first, await second, third, health, in_flight_during_health

    first, second, third, health, in_flight = asyncio.run(go())
    assert health.status_code == 200 and in_flight == 2  # answered while the model was blocked
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 503 and third.headers["retry-after"] == "1"
    assert "busy" in third.json()["detail"] and len(inside) == 2
    text = app.state.service.metrics.render().decode()
    assert 'pipeward_decisions_total{decision="busy"} 1.0' in text
    app.state.service.close()


def test_a_quick_model_is_called_inline_once_measured(data):
    X, _, _, model = data
    # A bound no call can miss (a timed threshold would make the test depend on the machine).
    app, h = make(model, {"input": {"guard": "off"}, "model": {"inline_below_ms": 1e6}}, X_train=X)
    responses = calls(app, h, [{"inputs": X[i:i + 1].tolist()} for i in range(5)])
    assert [r.status_code for r in responses] == [200] * 5
    pool = app.state.service.pool
    assert pool.pooled_calls == 1 and pool.inline_calls == 4  # measured once, then inline
    app.state.service.close()
    with pytest.raises(ValueError, match="model.threads"):
        Policy.from_dict({"model": {"threads": -1}})


# --- audit records are never dropped --------------------------------------------------------------

def test_a_full_audit_queue_makes_requests_wait_and_loses_no_record(data, tmp_path):
    X, _, _, model = data
    app, h = make(model, {"input": {"guard": "off"}, "audit": {"queue": 2, "flush_ms": 20}},
                  X_train=X, audit=tmp_path / "a.db")

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/v1/predict", json={"inputs": X[i:i + 1].tolist()},
                                                 headers=h) for i in range(60)))

    assert all(r.status_code == 200 for r in asyncio.run(go()))
    svc = app.state.service
    assert svc.audit.waits > 0  # the queue of 2 was full, and requests waited for room
    svc.close()
    with pw.AuditLog(tmp_path / "a.db", readonly=True) as log:
        ids = [r.payload["request_id"] for r in log.records(action="serve.request")]
        assert log.verify().ok
    assert len(ids) == len(set(ids)) == 60


def _wait_for(condition, timeout=20.0):
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_unwritable_audit_log_fails_closed_and_loses_no_record(data, tmp_path):
    """While the log cannot be written, predictions get 503 (no answer without a record) and
    /healthz reports it; the queued records are retried, not dropped, and once the log can be
    written again the service answers and every request's record is in a valid chain."""
    import sqlite3

    X, _, _, model = data

    class Flaky(pw.AuditLog):
        broken = False

        def append_many(self, entries):
            if self.broken:
                raise sqlite3.OperationalError("disk I/O error")
            return super().append_many(entries)

    log = Flaky(tmp_path / "a.db")
    app, h = make(model, {"input": {"guard": "off"}, "audit": {"flush_ms": 5}}, X_train=X, audit=log)
    svc = app.state.service
    body = {"inputs": X[:1].tolist()}
    log.broken = True  # after start-up, whose own record is written at once

    async def step():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.post("/v1/predict", json=body, headers=h), await c.get("/healthz")

    first, _ = asyncio.run(step())
    assert first.status_code == 200  # the fault is not known yet
    _wait_for(lambda: svc.audit.failing is not None)
    refused, health = asyncio.run(step())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "audit log" in refused.json()["detail"]
    assert health.status_code == 503 and health.json()["status"] == "failing"
    async def scrape():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return (await c.get("/metrics", headers=h)).text

    text = asyncio.run(scrape())
    assert "pipeward_audit_failing 1.0" in text
    assert 'pipeward_decisions_total{decision="unaudited"} 1.0' in text
    assert svc.audit.failed > 0 and svc.audit.written == 0 and svc.audit.queued >= 1
    log.broken = False
    _wait_for(lambda: svc.audit.failing is None)
    served, health = asyncio.run(step())
    assert served.status_code == 200 and health.json() == {"status": "ok"}
    svc.close()
    with pw.AuditLog(tmp_path / "a.db", readonly=True) as reader:
        assert reader.verify().ok
        statuses = [r.payload["status"] for r in reader.records(action="serve.request")
                    if r.payload.get("route") == "/v1/predict"]
    assert statuses == [200, 503, 200]  # every request, once, in order


def test_a_record_the_log_refuses_is_replaced_and_the_rest_are_written(tmp_path):
    from pipeward.serve.audit_writer import UNWRITABLE, AuditWriter

    log = pw.AuditLog(tmp_path / "a.db")
    writer = AuditWriter(log, flush_ms=5)
    for i in range(5):
        payload = {"i": i} if i != 2 else {"i": float("nan")}  # NaN is outside the log's JSON
        assert writer.offer(f"r{i}", payload, "test")
    writer.close()
    assert writer.failing is None and writer.unwritable == 1 and writer.written == 5
    records = list(log.records())
    assert [r.subject for r in records] == ["r0", "r1", "r2", "r3", "r4"]
    assert records[2].action == UNWRITABLE and "payload" in records[2].payload["error"]
    assert log.verify().ok
    log.close()


def test_a_read_only_log_is_a_storage_fault_not_a_loop(tmp_path):
    from pipeward.serve.audit_writer import AuditWriter

    pw.AuditLog(tmp_path / "a.db").close()
    log = pw.AuditLog(tmp_path / "a.db", readonly=True)
    writer = AuditWriter(log, flush_ms=5)
    writer.offer("r", {"i": 1}, "test")
    _wait_for(lambda: writer.failing is not None)
    assert "read-only" in writer.failing and writer.queued == 1  # kept, not dropped
    writer.close()
    log.close()


# --- the raw predict route keeps FastAPI's contract ------------------------------------------------

def test_predict_route_methods_openapi_and_streamed_body_limit(data):
    X, _, _, model = data
    app, h = make(model, {"input": {"guard": "off", "max_body_bytes": 2000}}, X_train=X)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            async def chunks():  # no Content-Length: the limit is met while the body streams
                for _ in range(10):
                    yield b" " * 500
            return (await c.get("/v1/predict", headers=h), await c.get("/openapi.json"),
                    await c.post("/v1/predict", content=chunks(),
                                 headers={**h, "Content-Type": "application/json"}))

    wrong_method, spec, streamed = asyncio.run(go())
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    op = spec.json()["paths"]["/v1/predict"]["post"]
    assert "inputs" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert op["security"] and {"401", "422", "429", "503"} <= set(op["responses"])
    assert streamed.status_code == 413 and "limit of 2000 bytes" in streamed.json()["detail"]
    app.state.service.close()


@pytest.mark.native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extraction_distances_match_the_reference_through_ring_overflow(dtype):
    from pipeward.reference.nearest import nearest_sq_distances
    from pipeward.serve.extraction import ExtractionDetector

    rng = np.random.default_rng(11)
    X = rng.normal(size=(130, 7)) * 3 + 1
    low, width = X.min(axis=0), np.ptp(X, axis=0)
    det = ExtractionDetector(7, low=low, width=width, max_history=40, window=60, dtype=dtype)
    det.observe("k", X[:30])  # one batch, then one query at a time past the ring's 40 rows
    for row in X[30:]:
        det.observe("k", row)
    scaled = ((X - low) * (1.0 / np.maximum(width, 1e-12))).astype(dtype)  # bit for bit
    expected = [np.sqrt(nearest_sq_distances(scaled[i:i + 1], scaled[max(0, i - 40):i])[0][0])
                for i in range(1, len(X))]
    h = det._keys["k"]
    assert (h.observed, h.measured, h.count) == (130, 129, 40)
    np.testing.assert_allclose(h.distances, expected[-60:], rtol=2e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(np.sort(h.queries, axis=0), np.sort(scaled[-40:], axis=0))


def test_extraction_keeps_testing_once_its_window_is_full():
    from pipeward.serve.extraction import ExtractionDetector

    rng = np.random.default_rng(12)
    det = ExtractionDetector(6, window=200, min_queries=50, threshold=0.8)
    for row in rng.normal(size=(400, 6)):  # natural traffic, past the window of 200 distances
        det.observe("k", row)
    assert not det.alarm("k")
    seed = rng.normal(size=6)
    for _ in range(150):  # then an extraction: tiny steps around one seed
        det.observe("k", seed + rng.normal(size=6) * 1e-3)
    assert det.alarm("k") and det.w("k") < 0.8


@pytest.mark.parametrize("batch", [1, 5])
def test_extraction_refuses_rows_that_are_not_finite(batch):
    from pipeward.serve.extraction import ExtractionDetector

    det = ExtractionDetector(3, max_history=10)
    bad = np.zeros((batch, 3))
    bad[-1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        det.observe("k", bad)  # the key's very first queries: nothing to compare with yet
    det.observe("k", np.ones((2, 3)))
    with pytest.raises(ValueError, match="float32 range once scaled"):
        det.observe("k", np.full((batch, 3), 1e300))
    h = det._keys["k"]
    assert (h.observed, h.count, h.measured) == (2, 2, 1)
    assert np.isfinite(h.queries[:h.count]).all() and np.isfinite(h.distances).all()
    overflowing = np.vstack([np.full((9, 3), 2.0), bad[-1:]])  # row by row: 9 kept, then refused
    with pytest.raises(ValueError, match="NaN or infinity"):
        det.observe("k", overflowing)
    assert (h.observed, h.count, h.measured) == (11, 10, 10)
    assert np.isfinite(h.queries).all()
    with pytest.raises(ValueError, match="rows of 3 features"):
        det.observe("k", np.zeros(4))
    with pytest.raises(ValueError, match="low must be 3 finite values"):
        ExtractionDetector(3, low=[0, np.inf, 0])
    with pytest.raises(ValueError, match="window"):
        ExtractionDetector(3, window=6000)


def test_batched_extraction_observation_equals_one_query_at_a_time():
    from pipeward.serve.extraction import ExtractionDetector

    rng = np.random.default_rng(5)
    for trial in range(10):
        X = rng.normal(size=(int(rng.integers(2, 400)), 6))
        batched, single = ExtractionDetector(6, max_history=300), ExtractionDetector(6, max_history=300)
        start = 0
        while start < len(X):  # batches of 1 to 150 rows; the ring overflows in some
            stop = start + int(rng.integers(1, 150))
            batched.observe("k", X[start:stop])
            start = stop
        for row in X:
            single.observe("k", row[None, :])
        a, b = batched._keys["k"], single._keys["k"]
        np.testing.assert_allclose(a.distances, b.distances, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(a.queries[:a.count], b.queries[:b.count])
        if len(a.distances) >= 3:  # a batch is tested once, at its end: test both now
            batched._test(a)
            single._test(b)
            assert a.w == pytest.approx(b.w, abs=1e-5)
