"""Signed lineage: in-toto Statement v1 in DSSE envelopes, checked by the in-toto and
securesystemslib packages, and the walk from a model back to trusted data."""

from __future__ import annotations

import base64
import copy
import json

import pytest

import pipeward as pw
from pipeward import lineage
from pipeward.lineage.dsse import pae


@pytest.fixture
def world(tmp_path):
    """raw (signed by provider acme) -> clean -> cleaned -> train -> model, two attestations."""
    acme_private, acme_public = pw.generate_keypair()
    ci_private, ci_public = pw.generate_keypair()
    store = pw.TrustStore()
    store.add("acme", acme_public, roles=["data-provider"])
    store.add("ci", ci_public, roles=["pipeline"])
    dirs = {n: tmp_path / n for n in ("raw", "cleaned", "model")}
    for n, d in dirs.items():
        d.mkdir()
        (d / f"{n}.bin").write_bytes(n.encode() * 100)
    raw = pw.Manifest.build(dirs["raw"])
    raw.sign(acme_private)
    cleaned, model = pw.Manifest.build(dirs["cleaned"]), pw.Manifest.build(dirs["model"])
    lineage.attest("clean", {"raw": raw}, {"cleaned": cleaned},
                   {"drop_outliers": True, "threshold": 3.5}, ci_private,
                   path=tmp_path / "clean.att.json")
    train_att = lineage.attest("train", {"cleaned": cleaned}, {"model": model},
                               {"epochs": 3}, ci_private)
    return {"store": store, "dirs": dirs, "raw": raw, "cleaned": cleaned, "model": model,
            "atts": [train_att, tmp_path / "clean.att.json"], "ci": ci_private,
            "acme": acme_private, "tmp": tmp_path}


def _statement(envelope):
    return json.loads(base64.b64decode(envelope["payload"]))


def test_the_statement_layout(world):
    env = world["atts"][0]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    stmt = _statement(env)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == lineage.PREDICATE_TYPE
    assert {"name": "model", "digest": {"pipewardManifestRoot": world["model"].root}} in stmt["subject"]
    assert {"name": "model/model.bin", "digest": {"sha256": world["model"]["model.bin"].digest}} in stmt["subject"]
    pred = stmt["predicate"]
    assert pred["step"] == "train" and pred["parameters"] == {"epochs": 3}
    assert pred["inputs"][0]["root"] == world["cleaned"].root
    assert pred["tools"]["pipeward"] == pw.__version__


def test_the_envelope_verifies_with_securesystemslib(world):
    dsse = pytest.importorskip("securesystemslib.dsse", reason="securesystemslib is not installed")
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import SSlibKey

    env = world["atts"][0]
    public = pw.signing.load_private_key(world["ci"]).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = SSlibKey(env["signatures"][0]["keyid"], "ed25519", "ed25519", {"public": public.hex()})
    envelope = dsse.Envelope.from_dict(copy.deepcopy(env))
    assert envelope.verify([key], 1)  # raises VerificationError when wrong
    assert envelope.pae() == pae(env["payloadType"], base64.b64decode(env["payload"]))
    forged = copy.deepcopy(env)
    forged["payload"] = base64.b64encode(base64.b64decode(env["payload"]).replace(b'"epochs":3', b'"epochs":4')).decode()
    from securesystemslib.exceptions import VerificationError

    with pytest.raises(VerificationError):
        dsse.Envelope.from_dict(forged).verify([key], 1)


def test_the_statement_validates_with_in_toto_attestation(world):
    pytest.importorskip("in_toto_attestation", reason="in-toto-attestation is not installed")
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement, statement_pb2

    for env in world["atts"][:1]:
        proto = json_format.Parse(base64.b64decode(env["payload"]), statement_pb2.Statement())
        statement.Statement.copy_from_pb(proto).validate()
        assert proto.predicate_type == lineage.PREDICATE_TYPE


def test_a_complete_chain(world):
    report = lineage.verify(world["dirs"]["model"], world["atts"], world["store"], role="pipeline")
    assert report.ok, report.broken
    assert [s.step for s in report.chain] == ["train", "clean"]
    assert all(s.signer == "ci" for s in report.chain)
    assert report.sources == [{"name": "input 'raw' of step 'clean'", "root": world["raw"].root,
                               "signer": "acme"}]
    assert report.chain[1].parameters == {"drop_outliers": True, "threshold": 3.5}
    assert "OK: the chain is complete" in report.describe()


def test_a_changed_model_breaks_at_the_model(world):
    (world["dirs"]["model"] / "model.bin").write_bytes(b"retrained elsewhere")
    report = lineage.verify(world["dirs"]["model"], world["atts"], world["store"])
    assert not report.ok and report.broken.startswith("the model (root")
    assert report.chain == []


def test_a_missing_step_breaks_at_its_output(world):
    report = lineage.verify(world["model"], world["atts"][:1], world["store"])
    assert not report.ok
    assert report.broken.startswith("input 'cleaned' of step 'train'")
    assert "not signed by a trusted provider (not signed)" in report.broken
    assert [s.step for s in report.chain] == ["train"]


def test_an_untrusted_provider_breaks_the_chain(world):
    world["store"].revoke("acme", reason="compromised")
    report = lineage.verify(world["model"], world["atts"], world["store"])
    assert not report.ok and "input 'raw' of step 'clean'" in report.broken
    assert "revoked" in report.broken and "compromised" in report.broken


def test_an_attestation_by_an_unknown_key_is_rejected_and_named(world):
    mallory, _ = pw.generate_keypair()
    forged = lineage.attest("train", {"cleaned": world["cleaned"]}, {"model": world["model"]}, {}, mallory)
    report = lineage.verify(world["model"], [forged, world["atts"][1]], world["store"])
    assert not report.ok and "unknown key" in report.rejected[0][1]
    assert "an untrusted attestation claims it" in report.broken


def test_a_tampered_attestation_is_rejected(world):
    env = copy.deepcopy(world["atts"][0])
    stmt = _statement(env)
    stmt["predicate"]["parameters"]["epochs"] = 300
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    report = lineage.verify(world["model"], [env, world["atts"][1]], world["store"])
    assert not report.ok and "does not verify" in report.rejected[0][1]


def test_the_signer_role_is_enforced(world):
    report = lineage.verify(world["model"], world["atts"], world["store"], role="auditor")
    assert not report.ok and "does not hold the role 'auditor'" in report.rejected[0][1]


def test_each_attestation_is_an_audit_record(world, tmp_path):
    log = pw.AuditLog(tmp_path / "audit.db")
    env = lineage.attest("evaluate", {"model": world["model"]}, {"model": world["model"]},
                         {"metric": "auc"}, world["ci"], audit=log)
    records = [r for r in log.records() if r.action == "lineage.attested"]
    assert len(records) == 1 and records[0].payload["step"] == "evaluate"
    assert records[0].payload["key_id"] == env["signatures"][0]["keyid"]
    assert records[0].payload["outputs"] == {"model": world["model"].root}
    assert log.verify().ok


def test_bad_arguments(world):
    with pytest.raises(TypeError, match="JSON values"):
        lineage.attest("s", {}, {"m": world["model"]}, {"x": float("nan")}, world["ci"])
    with pytest.raises(TypeError, match="JSON values"):
        lineage.attest("s", {}, {"m": world["model"]}, {"x": object()}, world["ci"])
    with pytest.raises(ValueError, match="at least one output"):
        lineage.attest("s", {"m": world["model"]}, {}, {}, world["ci"])
    with pytest.raises(ValueError, match="non-empty name"):
        lineage.attest("", {}, {"m": world["model"]}, {}, world["ci"])
    with pytest.raises(TypeError, match="TrustStore"):
        lineage.verify(world["model"], [], "trust.json")
    report = lineage.verify(world["model"], [world["tmp"] / "raw" / "raw.bin"], world["store"])
    assert "not JSON" in report.rejected[0][1]


def test_the_demo_records_its_training_step_and_the_report_shows_the_chain(tmp_path):
    from pipeward.demo.pipeline import Settings, run_demo

    result = run_demo(tmp_path, settings=Settings.fast(0), echo=None)
    assert result.checks["lineage from the model to signed data"] is True
    chain = result.report["lineage"]
    assert chain["ok"] and [s["step"] for s in chain["chain"]] == ["train (DP-SGD)"]
    assert chain["sources"][0]["signer"] == "pipeward demo"
    page = (tmp_path / "report.html").read_text()
    assert "Signed lineage" in page and "train (DP-SGD)" in page and "chain complete" in page
    log = pw.AuditLog(tmp_path / "audit.db")
    assert [r.payload["step"] for r in log.records(action="lineage.attested")] == ["train (DP-SGD)"]
    log.close()
