"""The guarded service loads a model only from a signer the trust store trusts: a key that is
known, valid now, not revoked and holding the role asked for; otherwise it names why."""

from __future__ import annotations

import subprocess

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx")
pytest.importorskip("skops", reason="the serve extra is not installed")

import pipeward as pw  # noqa: E402
from pipeward.datasets import load_breast_cancer  # noqa: E402
from pipeward.serve import KeyStore, ModelDirError, create_app, load_model_dir  # noqa: E402

from serve_helpers import pipeward_cmd, serve  # noqa: E402


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression

    X, y, names = load_breast_cancer()
    root = tmp_path_factory.mktemp("serve-trust")
    pw.save_keypair(root / "release.pem", root / "release.pem.pub")
    pw.serve.package(LogisticRegression(max_iter=3000).fit(X, y), X, root / "model",
                     private_key=root / "release.pem", y=y, feature_names=names)
    KeyStore(root / "keys.json", create=True).add("admin", "admin")
    return root


def _store(root, name="release-bot", **kw) -> pw.TrustStore:
    store = pw.TrustStore()
    store.add(name, root / "release.pem.pub", **kw)
    return store


def test_a_trusted_signer_with_the_role_loads(work):
    store = _store(work, roles=["model-publisher"])
    bundle = load_model_dir(work / "model", store, role="model-publisher")
    assert bundle.manifest_root == pw.Manifest.load(work / "model" / "manifest.json").root
    assert load_model_dir(work / "model", store).model is not None  # no role asked


@pytest.mark.parametrize("case, reason", [
    ("unknown", "unknown key"),
    ("revoked", "was revoked"),
    ("expired", "expired on 2020-01-01"),
    ("role", "does not hold the role 'model-publisher'"),
])
def test_an_untrusted_signer_is_refused_naming_why(work, case, reason):
    if case == "unknown":
        _, other = pw.generate_keypair()
        store = pw.TrustStore()
        store.add("someone-else", other, roles=["model-publisher"])
    else:
        kw = {"expired": {"not_after": "2020-01-01"}, "role": {"roles": ["data-provider"]}}
        store = _store(work, **kw.get(case, {"roles": ["model-publisher"]}))
        if case == "revoked":
            store.revoke("release-bot", reason="key leaked")
    with pytest.raises(ModelDirError, match=reason) as err:
        load_model_dir(work / "model", store, role="model-publisher")
    assert err.value.path.endswith("manifest.json")
    with pytest.raises(ModelDirError, match=reason):
        create_app(work / "model", keys=work / "keys.json", public_key=store,
                   signer_role="model-publisher")


def test_a_role_needs_a_trust_store(work):
    with pytest.raises(TypeError, match="needs a TrustStore"):
        load_model_dir(work / "model", work / "release.pem.pub", role="model-publisher")


def test_serve_cli_starts_with_a_trust_store_and_refuses_a_revoked_signer(work, tmp_path):
    store = _store(work, roles=["model-publisher"])
    store.save(tmp_path / "trust.json")
    args = [str(work / "model"), "--trust", str(tmp_path / "trust.json"), "--role",
            "model-publisher", "--keys", str(work / "keys.json")]
    with serve(args, tmp_path) as srv:
        health = httpx.get(srv.url + "/healthz", timeout=10).json()
        assert health["status"] == "ok"

    store.revoke("release-bot", reason="rotated")
    store.save(tmp_path / "trust.json")
    out = subprocess.run(pipeward_cmd("serve", *args), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "manifest.json" in out.stderr and "was revoked" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("extra, message", [
    (["--role", "model-publisher", "--pubkey", "release.pem.pub"], "--role needs --trust"),
    (["--pubkey", "release.pem.pub", "--trust", "trust.json"], "not allowed with argument"),
    ([], "one of the arguments --pubkey --trust is required"),
    (["--trust", "missing.json"], "cannot read the trust store"),
])
def test_serve_cli_signer_options_are_usage_errors(work, extra, message):
    extra = [str(work / a) if a.endswith((".pub", ".json")) else a for a in extra]
    out = subprocess.run(pipeward_cmd("serve", str(work / "model"), "--keys",
                                      str(work / "keys.json"), *extra),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
