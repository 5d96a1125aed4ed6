"""Accountability in `pipeward serve`, end to end over a real uvicorn on 127.0.0.1:
/v1/explain against pw.explain, /v1/feedback's rolling fairness windows against
pw.fairness.assess on the same rows, the alert (metric, serve.alert record, log line), the
per-decision explanation records, and a compliance check over the log the service wrote."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx")

import pipeward as pw  # noqa: E402
from pipeward.accountability.records import decision_payload  # noqa: E402
from pipeward.datasets import load_breast_cancer  # noqa: E402
from pipeward.serve import KeyStore, Policy, create_app, load_model_dir  # noqa: E402

from serve_helpers import pipeward_cmd, serve_in_thread  # noqa: E402

LIMIT = 0.3
WINDOW = 3


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, names = load_breast_cancer()
    X, names = X[:, :8], names[:8]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    root = tmp_path_factory.mktemp("serve_acc")
    pw.save_keypair(root / "release.pem", root / "release.pem.pub")
    pw.serve.package(model, X, root / "model", private_key=root / "release.pem", y=y, feature_names=names)
    store = KeyStore(root / "keys.json", create=True)
    keys = {name: store.add(name, role) for name, role in
            [("admin", "admin"), ("user", "user"), ("auditor", "auditor"), ("labeler", "labeler")]}
    (root / "policy.toml").write_text(f"""
[roles]
admin = ["predict", "probabilities", "metrics", "admin"]
user = ["predict"]
auditor = ["explain"]
labeler = ["feedback"]
[limits]
per_key = "10000/minute"
[fairness]
enabled = true
sensitive = ["group"]
window = {WINDOW}
limits = {{demographic_parity_difference = {LIMIT}}}
[explain]
top = 4
record_decisions = true
""")
    bundle = load_model_dir(root / "model", root / "release.pem.pub")
    _, p = bundle.guard.score(X)
    inliers = X[p > 0.2]
    return {"root": root, "keys": keys, "bundle": bundle, "X": X, "y": y, "names": names,
            "inliers": inliers, "y_inliers": y[p > 0.2]}


@pytest.fixture(scope="module")
def server(work):
    # In a thread (the CLI's own checks and app): the routes and records are under test here.
    root = work["root"]
    with serve_in_thread([str(root / "model"), "--pubkey", str(root / "release.pem.pub"), "--keys",
                          str(root / "keys.json"), "--policy", str(root / "policy.toml"),
                          "--audit", str(root / "audit.db"), "--model-name", "bc-8"], root) as srv:
        yield srv


def call(server, path, key, body):
    return httpx.post(server.url + path, json=body, headers={"X-API-Key": key}, timeout=60)


def test_explain_needs_its_permission_and_equals_pw_explain(server, work):
    rows = work["inliers"][:6]
    for who in ("user", "labeler"):
        r = call(server, "/v1/explain", work["keys"][who], {"inputs": rows.tolist()})
        assert r.status_code == 403 and "explain" in r.json()["detail"]
    assert call(server, "/v1/predict", work["keys"]["auditor"], {"inputs": rows.tolist()}).status_code == 403
    r = call(server, "/v1/explain", work["keys"]["auditor"], {"inputs": rows.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    estimator = work["bundle"].model.predict.__self__
    direct = pw.explain(estimator, rows, background=work["bundle"].background, feature_names=work["names"])
    assert body["method"] == direct.method == "exact" and body["output"] == "log_odds"
    for i, got in enumerate(body["explanations"]):
        want = decision_payload(direct, i, 4)
        assert list(got["top"]) == list(want["top"])  # the same features, largest first
        np.testing.assert_allclose(list(got["top"].values()), list(want["top"].values()), rtol=1e-12, atol=1e-12)
        assert got["value"] == pytest.approx(want["value"], abs=1e-12)
        assert got["base_value"] == pytest.approx(want["base_value"], abs=1e-12)
    # The contributions explain the model's own log-odds of each row.
    np.testing.assert_allclose(direct.output_values, estimator.decision_function(rows), atol=1e-9)
    r = call(server, "/v1/explain", work["keys"]["auditor"], {"inputs": [[1.0] * 7]})
    assert r.status_code == 422


def _groups(predictions: np.ndarray, t: int) -> list[str]:
    """Alternating groups first (no gap in selection rates to speak of); from batch 3 on,
    group b is exactly the rows predicted positive (demographic parity difference 1)."""
    if t < 3:
        return ["a" if i % 2 else "b" for i in range(len(predictions))]
    return ["b" if p == 1 else "a" for p in predictions]


def test_feedback_windows_equal_assess_and_alert_once(server, work):
    rng = np.random.default_rng(0)
    admin, labeler = work["keys"]["admin"], work["keys"]["labeler"]
    bad = call(server, "/v1/feedback", labeler, {"feedback": [{"request_id": "nope", "labels": [1],
                                                               "sensitive": {"group": ["a"]}}]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "unknown_request"
    assert call(server, "/v1/feedback", work["keys"]["user"], {"feedback": []}).status_code == 403
    batches, alerts = [], []
    for t in range(6):
        pick = rng.choice(len(work["inliers"]), 40, replace=False)
        rows, truth = work["inliers"][pick], work["y_inliers"][pick]
        answer = call(server, "/v1/predict", admin, {"inputs": rows.tolist()}).json()
        predicted = np.asarray(answer["predictions"])
        groups = _groups(predicted, t)
        item = {"request_id": answer["request_id"], "labels": truth.tolist(), "sensitive": {"group": groups}}
        if t == 0:  # labels of the wrong length: refused, and the prediction still waits
            wrong = call(server, "/v1/feedback", labeler, {"feedback": [{**item, "labels": [1]}]})
            assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"][-1] == "labels"
        r = call(server, "/v1/feedback", labeler, {"feedback": [item]})
        assert r.status_code == 200, r.text
        batches.append((truth, predicted, np.asarray(groups)))
        window = r.json()["window"]
        recent = batches[-WINDOW:]
        direct = pw.fairness.assess(np.concatenate([b[0] for b in recent]), np.concatenate([b[1] for b in recent]),
                                    np.concatenate([b[2] for b in recent]), n_boot=0)
        assert window["n_rows"] == 40 * len(recent) and window["batches"] == len(recent)
        for name, value in direct.disparities.items():
            got = window["disparities"][name]
            if math.isnan(value):
                assert got is None
            else:
                assert got == pytest.approx(value, abs=1e-12), name
        alerts.append((window["alerts"], window["crossed"]))
        # The same prediction cannot be labelled twice.
        again = call(server, "/v1/feedback", labeler, {"feedback": [item]})
        assert again.status_code == 422
    assert [a for a, _ in alerts[:3]] == [[], [], []]
    assert all(a == ["demographic_parity_difference"] for a, _ in alerts[4:])
    assert sum(bool(c) for _, c in alerts) == 1
    metrics = httpx.get(server.url + "/metrics", headers={"X-API-Key": admin}, timeout=30).text
    assert 'pipeward_fairness_alarm{disparity="demographic_parity_difference"} 1.0' in metrics
    assert "pipeward_explain_dropped 0.0" in metrics
    status = httpx.get(server.url + "/v1/admin/status", headers={"X-API-Key": admin}, timeout=30).json()
    fairness_alerts = [a for a in status["alerts"] if a["alert"] == "fairness"]
    assert len(fairness_alerts) == 1 and fairness_alerts[0]["crossed"] == ["demographic_parity_difference"]


def test_the_log_the_service_wrote_answers_compliance(server, work):
    """After the requests above: stop the service, then read its log (records and comply check)."""
    root = work["root"]
    server.stop()
    assert "pipeward serve alert: " in server.log.read_text() and '"alert": "fairness"' in server.log.read_text()
    with pw.AuditLog(root / "audit.db") as log:
        records = list(log.records())
        actions = [r.action for r in records]
        assert actions[:2] == ["model.artifact", "serve.started"] and actions[-1] == "serve.stopped"
        predicted = {r.payload["request_id"]: r.payload["rows"] for r in records
                     if r.action == "serve.request" and r.payload["route"] == "/v1/predict" and r.payload["status"] == 200}
        decisions = [r for r in records if r.action == "explanation.decision"]
        per_request: dict[str, int] = {}
        for r in decisions:
            per_request[r.payload["request_id"]] = per_request.get(r.payload["request_id"], 0) + 1
            assert r.payload["model"] == "bc-8" and len(r.payload["top"]) == 4
        assert per_request == predicted  # every answered row has its explanation
        assert len([r for r in records if r.action == "monitor.fairness"]) == 6
        assert [r.payload["kind"] for r in records if r.action == "serve.alert"] == ["fairness"]
        assert records[1].payload["auth"] is True and records[1].payload["model"] == "bc-8"
    profile = root / "service.json"
    profile.write_text(json.dumps({"name": "service", "title": "service facts", "requirements": [
        {"id": "access", "title": "auth", "check": "access_controlled"},
        {"id": "model", "title": "model files", "check": "model_integrity"},
        {"id": "explanations", "title": "explanations", "check": "explanations_available"}]}))
    run = subprocess.run(pipeward_cmd("comply", "check", "--profile", str(profile), str(root / "audit.db"),
                                      "--model", str(root / "model"), "--name", "bc-8", "--json"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    status = {r["id"]: r["status"] for r in json.loads(run.stdout)["requirements"]}
    assert status == {"access": "pass", "model": "pass", "explanations": "pass"}
    # A changed model file fails the integrity row.
    (root / "model" / "background.npy").write_bytes(b"changed")
    run = subprocess.run(pipeward_cmd("comply", "check", "--profile", str(profile), str(root / "audit.db"),
                                      "--model", str(root / "model"), "--name", "bc-8", "--json"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert {r["id"]: r["status"] for r in json.loads(run.stdout)["requirements"]}["model"] == "fail"


def test_policy_rejects_incomplete_fairness_and_explain_settings(work):
    with pytest.raises(ValueError, match="fairness.sensitive"):
        Policy.from_dict({"fairness": {"enabled": True, "limits": {"demographic_parity_difference": 0.1}}})
    with pytest.raises(ValueError, match="fairness.limits"):
        Policy.from_dict({"fairness": {"enabled": True, "sensitive": ["g"], "limits": {"vibes": 0.1}}})
    with pytest.raises(ValueError, match="explain.output"):
        Policy.from_dict({"explain": {"output": "odds"}})
    with pytest.raises(ValueError, match="unknown permissions"):
        Policy.from_dict({"roles": {"x": ["explian"]}})
    policy = {"fairness": {"enabled": True, "sensitive": ["sex"], "source": "request",
                           "limits": {"demographic_parity_difference": 0.1}}}
    with pytest.raises(ValueError, match="no sex"):
        create_app(work["bundle"], keys=KeyStore(), policy=policy)
    with pytest.raises(ValueError, match="audit log"):
        create_app(work["bundle"], keys=KeyStore(), policy={"explain": {"record_decisions": True}})


def test_sensitive_attribute_from_the_request_columns(work):
    """fairness.source = "request": the attribute is a model input column, kept with each
    answer until its labels arrive (in process, over ASGI)."""
    import asyncio

    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = np.column_stack([work["X"][:, :4], rng.integers(0, 2, len(work["X"])).astype(float)])
    names = [*work["names"][:4], "group"]
    model = LogisticRegression(max_iter=5000).fit(X, work["y"])
    store = KeyStore()
    key = store.add("ops", "admin")
    policy = {"fairness": {"enabled": True, "sensitive": ["group"], "source": "request", "window": 2,
                           "limits": {"equalized_odds_difference": 0.5}},
              "input": {"guard": "off"}, "extraction": {"enabled": False}, "drift": {"enabled": False}}
    app = create_app(model, keys=store, policy=policy, X_train=X, feature_names=names)
    batches = []

    async def traffic() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        windows = []
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            for t in range(3):
                pick = rng.choice(len(X), 50, replace=False)
                records = [dict(zip(names, map(float, row))) for row in X[pick]]
                answer = (await http.post("/v1/predict", json={"records": records},
                                          headers={"X-API-Key": key})).json()
                truth = work["y"][pick]
                batches.append((truth, np.asarray(answer["predictions"]), X[pick, 4]))
                item = {"request_id": answer["request_id"], "labels": truth.tolist()}
                r = await http.post("/v1/feedback", json={"feedback": [item]}, headers={"X-API-Key": key})
                assert r.status_code == 200, r.text
                windows.append(r.json()["window"])
            answer = (await http.post("/v1/predict", json={"inputs": X[:1].tolist()},
                                      headers={"X-API-Key": key})).json()
            extra = {"request_id": answer["request_id"], "labels": [1], "sensitive": {"group": [0]}}
            r = await http.post("/v1/feedback", json={"feedback": [extra]}, headers={"X-API-Key": key})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "sensitive"
        return windows

    try:
        windows = asyncio.run(traffic())
    finally:
        app.state.service.close()
    for t, window in enumerate(windows):
        recent = batches[max(0, t - 1): t + 1]
        direct = pw.fairness.assess(*(np.concatenate([b[k] for b in recent]) for k in range(3)), n_boot=0)
        assert window["sensitive_features"] == ["group"]
        assert window["disparities"]["equalized_odds_difference"] == pytest.approx(
            direct.equalized_odds_difference, abs=1e-12)


def test_explain_and_feedback_refusals_in_process(work):
    """501 for a labels-only model and for feedback with fairness off, 415 for a non-JSON body,
    and /v1/explain under the per-key limit like /v1/predict (in process, over ASGI)."""
    import asyncio

    X = work["X"]
    store = KeyStore()
    key = store.add("ops", "admin")
    labels_only = pw.serve.ServedModel(lambda A: (np.asarray(A)[:, 0] > 14).astype(int), classes=(0, 1))
    app = create_app(labels_only, keys=store, X_train=X, feature_names=work["names"],
                     policy={"limits": {"per_key": "2/minute"}, "input": {"guard": "off"}})

    async def traffic() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
            h = {"X-API-Key": key}
            return [await http.post("/v1/explain", json={"inputs": X[:1].tolist()}, headers=h),
                    await http.post("/v1/feedback", json={"feedback": []}, headers=h),
                    await http.post("/v1/explain", content=b"x", headers={**h, "Content-Type": "text/plain"}),
                    await http.post("/v1/explain", json={"inputs": X[:1].tolist()}, headers=h)]

    try:
        labels, feedback_off, not_json, over = asyncio.run(traffic())
    finally:
        app.state.service.close()
    assert labels.status_code == 501 and "labels only" in labels.json()["detail"]
    assert feedback_off.status_code == 501 and "[fairness]" in feedback_off.json()["detail"]
    assert not_json.status_code == 415
    assert over.status_code == 429 and "Retry-After" in over.headers
