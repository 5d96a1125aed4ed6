"""`pipeward serve` end to end: a real uvicorn server on 127.0.0.1, a real HTTP client (httpx),
a real redis-server for shared limits; plus the parts that need no server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx")
jwt = pytest.importorskip("jwt")

import pipeward as pw  # noqa: E402
from pipeward.datasets import load_breast_cancer  # noqa: E402
from pipeward.serve import KeyStore, Policy, load_model_dir, verify_watermark  # noqa: E402

from serve_helpers import pipeward_cmd, redis_server, redis_server_path, serve, serve_in_thread  # noqa: E402

JWT_ISSUER, JWT_AUDIENCE = "https://issuer.test", "pipeward-test"


# --- shared fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    X, y, names = load_breast_cancer()
    return X, y, names


@pytest.fixture(scope="module")
def model(data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _ = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)


@pytest.fixture(scope="module")
def work(tmp_path_factory, data, model):
    """A packaged model, signing keys, a key store with one key per purpose, JWT keys, a policy."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    X, y, names = data
    root = tmp_path_factory.mktemp("serve")
    pw.save_keypair(root / "release.pem", root / "release.pem.pub")
    manifest = pw.serve.package(model, X, root / "model", private_key=root / "release.pem", y=y,
                                feature_names=names)
    # The shadow: the same features, trained on flipped labels, so it disagrees on ~every row.
    from sklearn.base import clone

    pw.serve.package(clone(model).fit(X, 1 - y), X, root / "shadow", private_key=root / "release.pem",
                     y=1 - y, feature_names=names)
    store = KeyStore(root / "keys.json", create=True)
    keys = {name: store.add(name, role) for name, role in [
        ("admin", "admin"), ("user", "user"), ("analyst", "analyst"), ("metrics", "metrics"),
        ("limited", "user"), ("revoked", "user"), ("fuzz", "admin"), ("bad", "admin"),
        ("guard", "admin")]}
    jwt_key = Ed25519PrivateKey.generate()
    (root / "jwt.pub").write_bytes(jwt_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (root / "policy.toml").write_text(f"""
[limits]
per_key = "40/minute"
soft_fraction = 0.5
max_delay_ms = 150
[input]
max_rows = 100
[output]
round = 3
[jwt]
issuer = "{JWT_ISSUER}"
audience = "{JWT_AUDIENCE}"
public_key = "jwt.pub"
""")
    bundle = load_model_dir(root / "model", root / "release.pem.pub")
    _, p = bundle.guard.score(X)
    inliers = X[p > 0.2]  # rows the guard surely accepts
    return {"root": root, "keys": keys, "jwt_key": jwt_key, "manifest": manifest,
            "names": names, "inliers": inliers, "guard": bundle.guard}


@pytest.fixture(scope="module")
def server(work):
    # In a thread: the routes are under test here, not the process (the tests of its exit
    # codes, a kill -9 and two workers start real `pipeward serve` processes).
    root = work["root"]
    with serve_in_thread([str(root / "model"), "--pubkey", str(root / "release.pem.pub"), "--keys",
                          str(root / "keys.json"), "--policy", str(root / "policy.toml"),
                          "--audit", str(root / "audit.db"), "--shadow", str(root / "shadow")],
                         root) as srv:
        yield srv


def post(server, key, body=None, *, content=None, headers=None, **kw):
    h = {"X-API-Key": key} if key else {}
    h.update(headers or {})
    if content is not None:
        h.setdefault("Content-Type", "application/json")
        return httpx.post(server.url + "/v1/predict", content=content, headers=h, timeout=30, **kw)
    return httpx.post(server.url + "/v1/predict", json=body, headers=h, timeout=30, **kw)


def token(work, *, role="analyst", exp_s=300, aud=JWT_AUDIENCE, iss=JWT_ISSUER, key=None, sub="svc-1"):
    now = int(time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + exp_s, "aud": aud, "iss": iss}
    return jwt.encode(claims, key or work["jwt_key"], algorithm="EdDSA")


# --- answers -----------------------------------------------------------------------------------

def test_predict_answers_the_model(server, work, model):
    rows = work["inliers"][:5]
    r = post(server, work["keys"]["admin"], {"inputs": rows.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == model.predict(rows).tolist()
    assert body["classes"] == [0, 1] and len(body["request_id"]) == 16
    np.testing.assert_allclose(body["probabilities"], np.round(model.predict_proba(rows), 3))
    records = [dict(zip(work["names"], row)) for row in rows.tolist()]
    r2 = post(server, work["keys"]["admin"], {"records": records}, headers={})
    assert r2.json()["predictions"] == body["predictions"]


def _metric(server, work, name):
    text = httpx.get(server.url + "/metrics", headers={"X-API-Key": work["keys"]["metrics"]}).text
    return float(next((line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")), 0))


def _settled(server, work, name: str, quiet_s: float = 0.5, timeout_s: float = 30.0) -> float:
    """The metric once it has stopped moving for ``quiet_s`` (the monitor thread may still be
    scoring an earlier test's rows, batched every 50 ms)."""
    value, since, deadline = _metric(server, work, name), time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.05)
        now = _metric(server, work, name)
        if now != value:
            value, since = now, time.monotonic()
    return value


def test_shadow_model_from_the_cli_is_scored_off_the_request_path(server, work, model):
    before = _settled(server, work, "pipeward_shadow_rows")
    rows = work["inliers"][:20]
    r = post(server, work["keys"]["admin"], {"inputs": rows.tolist()})
    assert r.json()["predictions"] == model.predict(rows).tolist()  # the served model answers
    deadline = time.monotonic() + 30
    while _metric(server, work, "pipeward_shadow_rows") < before + 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _metric(server, work, "pipeward_shadow_rows") == before + 20
    assert _metric(server, work, "pipeward_shadow_disagreement") > 0.9  # the flipped shadow


def test_roles_without_probabilities_get_labels_only(server, work):
    r = httpx.post(server.url + "/v1/predict", json={"inputs": work["inliers"][:2].tolist()},
                   headers={"Authorization": "Bearer " + work["keys"]["user"]})
    assert r.status_code == 200
    assert "probabilities" not in r.json()


def test_healthz_needs_no_credentials_and_model_card_names_the_root(server, work):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    spec = httpx.get(server.url + "/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "inputs" in json.dumps(spec["paths"]["/v1/predict"]["post"]["requestBody"])
    assert httpx.get(server.url + "/docs").status_code == 200
    card = httpx.get(server.url + "/v1/model", headers={"X-API-Key": work["keys"]["user"]}).json()
    assert card["manifest_root"] == work["manifest"].root
    assert [f["name"] for f in card["schema"]["features"]] == work["names"]


# --- credentials -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"X-API-Key": "pw_000000000000_nope"}, {"Authorization": "Bearer not-a-key"},
    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer a.b.c"},
])
def test_missing_or_wrong_credentials_are_401(server, work, headers):
    r = httpx.post(server.url + "/v1/predict", json={"inputs": work["inliers"][:1].tolist()},
                   headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_key_is_refused_once_revoked(server, work):
    key = work["keys"]["revoked"]
    assert post(server, key, {"inputs": work["inliers"][:1].tolist()}).status_code == 200
    KeyStore(work["root"] / "keys.json").revoke("revoked")
    time.sleep(1.3)  # the service re-reads a changed store at most once a second
    assert post(server, key, {"inputs": work["inliers"][:1].tolist()}).status_code == 401


def test_permissions_are_per_route(server, work):
    keys = work["keys"]
    assert httpx.get(server.url + "/metrics", headers={"X-API-Key": keys["user"]}).status_code == 403
    assert post(server, keys["metrics"], {"inputs": work["inliers"][:1].tolist()}).status_code == 403
    r = httpx.get(server.url + "/metrics", headers={"X-API-Key": keys["metrics"]})
    assert r.status_code == 200
    assert "pipeward_requests_total" in r.text and 'status="403"' in r.text
    assert httpx.get(server.url + "/v1/admin/status", headers={"X-API-Key": keys["user"]}).status_code == 403
    assert httpx.get(server.url + "/v1/admin/status", headers={"X-API-Key": keys["admin"]}).status_code == 200


def test_jwt_bearer_tokens(server, work):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rows = {"inputs": work["inliers"][:2].tolist()}

    def call(tok):
        return httpx.post(server.url + "/v1/predict", json=rows, headers={"Authorization": "Bearer " + tok})

    ok = call(token(work))
    assert ok.status_code == 200 and "probabilities" in ok.json()
    assert call(token(work, role="user")).status_code == 200
    assert call(token(work, role="metrics")).status_code == 403
    assert call(token(work, exp_s=-60)).status_code == 401            # expired
    assert call(token(work, aud="someone-else")).status_code == 401   # wrong audience
    assert call(token(work, iss="https://evil.test")).status_code == 401
    assert call(token(work, key=Ed25519PrivateKey.generate())).status_code == 401  # wrong signer
    unsigned = jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60,
                           "aud": JWT_AUDIENCE, "iss": JWT_ISSUER}, None, algorithm="none")
    assert call(unsigned).status_code == 401


# --- input validation --------------------------------------------------------------------------

def _row(work, **changes):
    row = work["inliers"][0].tolist()
    for j, v in changes.items():
        row[int(j[1:])] = v
    return row


@pytest.mark.parametrize("make, loc, kind", [
    (lambda w: {"inputs": [w["inliers"][0].tolist()[:29]]}, ["body", "inputs", 0], "wrong_feature_count"),
    (lambda w: {"inputs": [_row(w, c3="12.5")]}, ["body", "inputs", 0, 3], "float_type"),
    (lambda w: {"inputs": [_row(w, c4=True)]}, ["body", "inputs", 0, 4], "float_type"),
    (lambda w: {"inputs": [_row(w, c5=None)]}, ["body", "inputs", 0, 5], "float_type"),
    (lambda w: {"inputs": [_row(w, c0=1e6)]}, ["body", "inputs", 0, 0], "out_of_range"),
    (lambda w: {"inputs": [_row(w, c1=10**400)]}, ["body", "inputs", 0, 1], "finite_number"),
    (lambda w: {"inputs": [w["inliers"][0].tolist()] * 101}, ["body", "inputs"], "too_many_rows"),
    (lambda w: {"inputs": []}, ["body", "inputs"], "value_error"),
    (lambda w: {"inputs": [[]], "records": []}, ["body"], "value_error"),
    (lambda w: [1, 2, 3], ["body"], "type_error"),
    (lambda w: {"records": [{"nope": 1}]}, ["body", "records", 0, "mean radius"], "missing"),
    (lambda w: {"records": [{**dict(zip(w["names"], w["inliers"][0].tolist())), "extra": 1}]},
     ["body", "records", 0, "extra"], "extra_forbidden"),
])
def test_invalid_input_is_422_naming_the_field(server, work, make, loc, kind):
    r = post(server, work["keys"]["bad"], make(work))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc and detail["type"] == kind


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_422(server, work, literal):
    values = work["inliers"][0].tolist()
    body = b'{"inputs": [[' + literal + b"," + json.dumps(values[1:]).encode()[1:] + b"]}"
    r = post(server, work["keys"]["bad"], content=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "mean radius"


def test_malformed_bodies(server, work):
    key = work["keys"]["bad"]
    assert post(server, key, content=b'{"inputs": [[1, 2').status_code == 422
    assert post(server, key, content=b"\xff\xfe not json").status_code == 422
    deep = post(server, key, content=b"[" * 200_000 + b"]" * 200_000)
    assert deep.status_code == 422 and deep.json()["detail"][0]["type"] == "json_too_deep"
    wrong_type = post(server, key, content=b'{"inputs": [[1]]}', headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert post(server, key, content=b'{}', headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415


def test_bodies_over_the_limit_are_413(server, work):
    key = work["keys"]["bad"]
    big = b'{"inputs": [' + b"1," * (5 << 20) + b"1]}"  # 10 MB
    assert post(server, key, content=big).status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b" " * (1 << 20)

    assert post(server, key, content=chunks()).status_code == 413


def test_out_of_distribution_rows_are_rejected(server, work):
    # Every value inside its training range, but a combination no tumour has: large radius
    # and perimeter with the smallest area.
    X = work["inliers"]
    row = X.mean(axis=0)
    row[0], row[2], row[3] = X[:, 0].max(), X[:, 2].max(), X[:, 3].min()
    assert work["guard"].score(row[None])[1][0] <= 0.01
    r = post(server, work["keys"]["guard"], {"inputs": [X[0].tolist(), row.tolist()]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "out_of_distribution"
    assert r.json()["detail"][0]["loc"] == ["body", "inputs", 1]


def test_no_client_input_causes_a_500(server, work):
    rng = np.random.default_rng(5)
    atoms = [b"{", b"}", b"[", b"]", b",", b":", b'"inputs"', b'"records"', b"1e309", b"-0",
             b"NaN", b"null", b"true", b'"x"', b"1.5", b"\xc3\x28", b"0" * 400]
    for _ in range(40):
        body = b"".join(rng.choice(atoms, size=rng.integers(1, 30)))
        r = post(server, work["keys"]["fuzz"], content=body)
        assert r.status_code < 500, (body, r.text)


# --- limits ------------------------------------------------------------------------------------

def test_progressive_delay_then_429_with_retry_after(server, work):
    key, rows = work["keys"]["limited"], {"inputs": work["inliers"][:1].tolist()}
    latencies = []
    with httpx.Client(timeout=30) as client:
        for _ in range(40):
            t = time.perf_counter()
            r = client.post(server.url + "/v1/predict", json=rows, headers={"X-API-Key": key})
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200
        r = client.post(server.url + "/v1/predict", json=rows, headers={"X-API-Key": key})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Below the soft threshold (20 of 40) no delay; the 40th waits the full 150 ms.
    assert min(latencies[:15]) < 0.075
    assert latencies[-1] >= 0.150 and latencies[-5] >= 0.150 * 16 / 20
    assert np.median(latencies[-5:]) > np.median(latencies[:15]) + 0.08


# --- audit -------------------------------------------------------------------------------------

def test_every_request_is_in_the_audit_log_without_raw_inputs(server, work):
    key = work["keys"]["admin"]
    rows = work["inliers"][:2].tolist()
    rid = post(server, key, {"inputs": rows}).json()["request_id"]
    deadline = time.time() + 10
    found = None
    while found is None and time.time() < deadline:
        time.sleep(0.1)
        with pw.AuditLog(work["root"] / "audit.db", readonly=True) as log:
            found = next((r for r in log.records(action="serve.request")
                          if r.payload.get("request_id") == rid), None)
    assert found is not None
    p = found.payload
    assert p["status"] == 200 and p["role"] == "admin" and p["rows"] == 2 and p["route"] == "/v1/predict"
    assert len(p["input_sha256"]) == 64 and "raw_input" not in p
    assert str(rows[0][0]) not in json.dumps(p)
    out = subprocess.run(pipeward_cmd("audit", "verify", str(work["root"] / "audit.db")),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# --- refusing to start ---------------------------------------------------------------------------

def test_tampered_model_directory_refuses_to_start(work, data, tmp_path, capsys):
    import shutil

    from sklearn.linear_model import LogisticRegression

    from pipeward.cli import main

    bad = tmp_path / "model"
    shutil.copytree(work["root"] / "model", bad)
    meta = json.loads((bad / "pipeward-model.json").read_text())
    meta["schema"]["features"][0]["high"] = 1e9  # widen a range
    (bad / "pipeward-model.json").write_text(json.dumps(meta))
    args = ["--pubkey", str(work["root"] / "release.pem.pub"), "--keys", str(work["root"] / "keys.json")]
    # The process: exit 1, one line naming the file, no traceback.
    out = subprocess.run(pipeward_cmd("serve", str(bad), *args), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "pipeward-model.json" in out.stderr and "Traceback" not in out.stderr

    def refusal(*argv: str) -> tuple[int, str]:
        """The CLI's exit code and stderr, in this process (the same code path, no server starts)."""
        code = main(["serve", *argv])
        return code, capsys.readouterr().err

    other = tmp_path / "other.pem"
    pw.save_keypair(other, tmp_path / "other.pem.pub")
    code, err = refusal(str(work["root"] / "model"), "--pubkey", str(tmp_path / "other.pem.pub"),
                        "--keys", str(work["root"] / "keys.json"))
    assert code == 1 and "manifest.json" in err and "signature" in err
    # A shadow directory is verified like the served one, and must take the same features.
    code, err = refusal(str(work["root"] / "model"), *args, "--shadow", str(bad))
    assert code == 1 and "pipeward-model.json" in err and "Traceback" not in err
    X, y, _ = data
    pw.serve.package(LogisticRegression(max_iter=5000).fit(X[:, :5], y), X[:, :5], tmp_path / "narrow",
                     private_key=work["root"] / "release.pem", y=y)
    code, err = refusal(str(work["root"] / "model"), *args, "--shadow", str(tmp_path / "narrow"))
    assert code == 2 and "other features" in err and "Traceback" not in err


# --- several workers, one limit through Redis ------------------------------------------------------

@pytest.mark.skipif(redis_server_path() is None,
                    reason="redis-server is not installed (apt-get install redis-server; .ci/run does)")
def test_a_limit_is_shared_exactly_across_two_workers_through_redis(work, tmp_path):
    root = work["root"]
    with redis_server(tmp_path) as uri, serve(
            [str(root / "model"), "--pubkey", str(root / "release.pem.pub"), "--keys",
             str(root / "keys.json"), "--workers", "2", "--storage", uri, "--rate-limit",
             "25/hour", "--audit", str(tmp_path / "audit.db")],
            tmp_path, timeout=180) as srv:  # two interpreters start on a loaded box
        rows = {"inputs": work["inliers"][:1].tolist()}
        codes: list[int] = []
        lock = threading.Lock()

        def client(n):
            for _ in range(n):  # a new connection per request, so both workers take some
                r = httpx.post(srv.url + "/v1/predict", json=rows,
                               headers={"X-API-Key": work["keys"]["analyst"], "Connection": "close"})
                with lock:
                    codes.append(r.status_code)

        threads = [threading.Thread(target=client, args=(15,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import redis

        keys = redis.Redis.from_url(uri).keys("*")
    assert codes.count(200) == 25 and codes.count(429) == 35, sorted(set(codes))
    assert any(b"key" in k for k in keys)
    # Both workers appended to one audit log: the chain holds and every request is in it once.
    from pipeward.cli import main

    assert main(["audit", "verify", str(tmp_path / "audit.db")]) == 0
    with pw.AuditLog(tmp_path / "audit.db", readonly=True) as log:
        predicted = [r.payload["status"] for r in log.records(action="serve.request")
                     if r.payload["route"] == "/v1/predict"]
    assert sorted(predicted) == [200] * 25 + [429] * 35


# --- TLS, watermark, and a killed server ----------------------------------------------------------

def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return tmp / "cert.pem", tmp / "key.pem"


def test_tls_watermark_and_no_committed_audit_record_lost_on_kill(work, data, tmp_path):
    import ssl

    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y, _ = data
    root = work["root"]
    cert, key = _self_signed(tmp_path)
    # A fixed key: the honest model's p-value is a draw over keys, so a random key failed
    # 'p > 0.01' one run in a hundred.
    secret = bytes.fromhex("5a" * 32)
    (tmp_path / "wm.key").write_text(secret.hex())
    (tmp_path / "policy.toml").write_text(f"""
[limits]
per_key = "100000/minute"
[input]
guard = "flag"
[watermark]
fraction = 0.05
key = "{secret.hex()}"
[audit]
flush_ms = 20
""")
    audit = tmp_path / "audit.db"
    ctx = ssl.create_default_context(cafile=str(cert))
    with serve([str(root / "model"), "--pubkey", str(root / "release.pem.pub"), "--keys",
                str(root / "keys.json"), "--policy", str(tmp_path / "policy.toml"), "--audit",
                str(audit), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], tmp_path,
               scheme="https", verify=ctx) as srv:
        assert srv.url.startswith("https://")
        with pytest.raises(httpx.ConnectError):  # the certificate is not trusted by default
            httpx.get(srv.url + "/healthz")
        # A model thief queries perturbed training rows and trains a surrogate on the answers.
        rng = np.random.default_rng(11)
        queries = np.repeat(X, 2, axis=0) + rng.normal(size=(2 * len(X), X.shape[1])) * X.std(axis=0) * 0.02
        queries = np.clip(queries, X.min(axis=0), X.max(axis=0))
        answers = []
        with httpx.Client(verify=ctx, timeout=30, headers={"X-API-Key": work["keys"]["analyst"]}) as c:
            for batch in np.array_split(queries, 12):
                r = c.post(srv.url + "/v1/predict", json={"inputs": batch.tolist()})
                assert r.status_code == 200, r.text
                answers += r.json()["predictions"]
            # Same input, same answer: no averaging the marks away.
            again = c.post(srv.url + "/v1/predict", json={"inputs": queries[:90].tolist()}).json()
            assert again["predictions"] == answers[:90]
            # Everything so far is committed within a flush or two.
            deadline = time.time() + 10
            committed = []
            while time.time() < deadline:
                with pw.AuditLog(audit, readonly=True) as log:
                    committed = [r.hash for r in log.records()]
                if len(committed) >= 14:
                    break
                time.sleep(0.05)
            assert len(committed) >= 14
            # Then kill -9 while requests are in flight.
            stop = threading.Event()

            def hammer():
                with httpx.Client(verify=ctx, timeout=5, headers={"X-API-Key": work["keys"]["analyst"]}) as h:
                    while not stop.is_set():
                        try:
                            h.post(srv.url + "/v1/predict", json={"inputs": queries[:3].tolist()})
                        except httpx.HTTPError:
                            return

            t = threading.Thread(target=hammer)
            t.start()
            time.sleep(0.5)
            srv.kill()
            stop.set()
            t.join()
    with pw.AuditLog(audit, readonly=True) as log:
        report = log.verify()
        after = [r.hash for r in log.records()]
    assert report.ok, report
    assert after[:len(committed)] == committed

    mark = pw.serve.Watermark(secret, (0, 1), 0.05)
    surrogate = DecisionTreeClassifier(random_state=0).fit(queries, answers)
    stolen = verify_watermark(surrogate.predict, mark, queries)
    assert stolen.n_checked >= 20 and stolen.pvalue < 1e-6
    honest = LogisticRegression(max_iter=5000).fit(X, y)
    clean = verify_watermark(honest.predict, secret, queries, classes=[0, 1], fraction=0.05)
    assert clean.n_checked == stolen.n_checked and clean.pvalue > 0.01


# --- no server needed --------------------------------------------------------------------------------

def test_key_store_keeps_only_salted_hashes(tmp_path):
    store = KeyStore(tmp_path / "k.json", create=True)
    a, b = store.add("a", "user"), store.add("b", "user")
    text = (tmp_path / "k.json").read_text()
    for key in (a, b):
        assert key.split("_", 2)[2] not in text
    entries = json.loads(text)["keys"]
    assert len({e["salt"] for e in entries}) == 2 and oct((tmp_path / "k.json").stat().st_mode)[-3:] == "600"
    assert store.authenticate(a).name == "a" and store.authenticate(a + "x") is None
    assert store.authenticate(a.replace("pw_", "pw_0")) is None


def cli(capsys, *args):
    from pipeward.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_keys_cli_prints_the_key_once(tmp_path, capsys):
    store = str(tmp_path / "keys.json")
    code, key, _ = cli(capsys, "keys", "add", "--store", store, "--name", "ci", "--role", "user")
    assert code == 0 and key.startswith("pw_")
    code, listed, _ = cli(capsys, "keys", "list", "--store", store)
    assert "ci" in listed and key.strip() not in listed
    assert cli(capsys, "keys", "revoke", "--store", store, "ci")[0] == 0
    assert KeyStore(store).authenticate(key.strip()) is None
    code, _, err = cli(capsys, "keys", "revoke", "--store", store, "ci")
    assert code == 2 and err.count("\n") == 1


def test_package_cli_and_pickle_refusal(tmp_path, data, model, capsys):
    import skops.io as sio

    X, y, _ = data
    sio.dump(model, tmp_path / "model.skops")
    np.save(tmp_path / "train.npy", np.column_stack([X, y]))
    pw.save_keypair(tmp_path / "k.pem", tmp_path / "k.pem.pub")
    code, _, err = cli(capsys, "package", str(tmp_path / "model.skops"), "--train",
                       str(tmp_path / "train.npy"), "--labels", "30", "--key",
                       str(tmp_path / "k.pem"), "-o", str(tmp_path / "dir"))
    assert code == 0, err
    bundle = load_model_dir(tmp_path / "dir", tmp_path / "k.pem.pub")
    assert bundle.model.kind == "skops" and bundle.schema.classes == (0, 1)
    np.testing.assert_array_equal(bundle.model.predict(X[:20]), model.predict(X[:20]))
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04")
    code, _, err = cli(capsys, "package", str(tmp_path / "m.pkl"), "--train",
                       str(tmp_path / "train.npy"), "--key", str(tmp_path / "k.pem"),
                       "-o", str(tmp_path / "dir2"))
    assert code == 2 and "pickle" in err


def test_policy_rejects_unknown_settings(tmp_path):
    (tmp_path / "p.toml").write_text('[limits]\nper_kye = "1/second"\n')
    with pytest.raises(ValueError, match="per_kye"):
        Policy.from_toml(tmp_path / "p.toml")
    with pytest.raises(ValueError, match="unknown permissions"):
        Policy.from_dict({"roles": {"x": ["predict", "root"]}})
    assert Policy().replace(limits={"per_key": "5/second"}).limits.per_key == "5/second"


def test_watermark_null_is_binomial_at_chance():
    # A suspect that never saw the marks matches them at 1/K: p-values are not small.
    mark = pw.serve.Watermark(b"k" * 32, ("a", "b", "c"), 0.2)
    X = np.random.default_rng(0).normal(size=(3000, 4))
    verdict = verify_watermark(lambda A: np.where(A[:, 0] > 0, "a", "b"), mark, X)
    assert abs(verdict.matched_fraction - 1 / 3) < 0.06 and verdict.pvalue > 0.001
    assert pw.serve.watermark.binomial_sf(3, 3, 0.5) == pytest.approx(0.125)
    from scipy.stats import binom

    assert pw.serve.watermark.binomial_sf(40, 100, 1 / 3) == pytest.approx(binom.sf(39, 100, 1 / 3), rel=1e-9)


def test_extraction_detector_flags_synthetic_queries(data):
    from pipeward.serve.extraction import ExtractionDetector, baseline_w
    from pipeward.serve.schema import ModelSchema

    X, _, _ = data
    low, width = ModelSchema.from_training(X).numeric_scale()
    threshold = 0.75 * baseline_w(X, low, width)
    det = ExtractionDetector(30, low=low, width=width, threshold=threshold)
    rng = np.random.default_rng(4)
    natural = det.observe("person", X[rng.permutation(len(X))[:300]])
    seeds = X[:5]
    synthetic = np.array([seeds[i % 5] + rng.normal(size=30) * X.std(axis=0) * 0.01 for i in range(300)])
    attack = det.observe("thief", synthetic)
    assert not natural.alarm and attack.alarm
    assert attack.w < threshold < natural.w
