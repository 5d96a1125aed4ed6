"""The red team against a guarded `pipeward serve` (real uvicorn on 127.0.0.1, real HTTP):
HopSkipJump through the service's client, and extraction with and without each defence
(probabilities vs label-only answers, a daily budget, a rate limit, a watermark).

HopSkipJump runs against the `pipeward serve` command; the extraction runs start the same
signed model directory with ``create_app`` under uvicorn in a thread, one policy each, which
takes a fraction of a second instead of a new process's imports."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("httpx")

import pipeward as pw  # noqa: E402
from pipeward.datasets import load_breast_cancer  # noqa: E402
from pipeward.redteam import QueryRefused, ServiceClient  # noqa: E402
from pipeward.serve import KeyStore  # noqa: E402

from serve_helpers import free_port, serve  # noqa: E402

OPEN = {"limits": {"per_key": "100000/minute", "per_address": "100000/minute"}, "input": {"guard": "flag"}}
SECRET = "5a" * 32
POLICIES = {
    "open": OPEN,
    "label_only": {**OPEN, "output": {"label_only": True}},
    "budget": {**OPEN, "limits": {**OPEN["limits"], "daily_budget": 90}},
    "rate_limit": {**OPEN, "limits": {"per_key": "3/minute", "max_delay_ms": 1}},
    "watermark": {**OPEN, "watermark": {"fraction": 0.2, "key": SECRET}},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, names = load_breast_cancer()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, pool, held = order[:285], order[285:469], order[469:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[train], y[train])
    root = tmp_path_factory.mktemp("redteam-serve")
    pw.save_keypair(root / "release.pem", root / "release.pem.pub")
    pw.serve.package(model, X[train], root / "model", private_key=root / "release.pem", y=y[train],
                     feature_names=names)
    store = KeyStore(root / "keys.json", create=True)
    keys = {"analyst": store.add("analyst", "analyst"), "user": store.add("user", "user")}
    (root / "open.toml").write_text('[limits]\nper_key = "100000/minute"\nper_address = "100000/minute"\n'
                                    '[input]\nguard = "flag"\n')
    return {"root": root, "keys": keys, "model": model, "X": X, "y": y,
            "pool": X[pool], "held": X[held], "y_held": y[held]}


@contextmanager
def running(setup, policy):
    """The packaged model under ``POLICIES[policy]``, served by uvicorn on 127.0.0.1 in a thread."""
    import uvicorn

    root = setup["root"]
    app = pw.serve.create_app(root / "model", public_key=root / "release.pem.pub", keys=root / "keys.json",
                              policy=POLICIES[policy])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                            ws="none"))  # no websocket routes: load no websocket library
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def steal(setup, client, *, budget=160, probabilities=False, surrogate=None):
    model = setup["model"]
    return pw.redteam.extract(client.predict, setup["pool"], budget=budget, X_eval=setup["held"],
                              y_eval=setup["y_held"], victim_eval=model.predict(setup["held"]),
                              predict_proba=client.predict_proba if probabilities else None,
                              classes=[0, 1], surrogate=surrogate, rounds=4, seed=0)


def scaled_lr():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def test_hop_skip_jump_through_the_service_equals_the_local_attack(setup):
    model, X, y = setup["model"], setup["held"][:4], setup["y_held"][:4]
    # the service refuses values outside the training range (422): stay inside it, per feature
    box = (setup["X"].min(axis=0), setup["X"].max(axis=0))
    kw = dict(max_iter=4, init_evals=30, max_evals=60, seed=3, clip_values=box)
    local = pw.redteam.hop_skip_jump(model.predict, X, y, **kw)
    root = setup["root"]
    with serve([str(root / "model"), "--pubkey", str(root / "release.pem.pub"), "--keys", str(root / "keys.json"),
                "--policy", str(root / "open.toml")], root) as srv, \
            ServiceClient(srv.url, api_key=setup["keys"]["user"]) as client:
        remote = pw.redteam.hop_skip_jump(client.predict, X, y, **kw)
        # every label the attack saw came over HTTP, and each was the model's own
        assert client.queries == int(remote.queries.sum()) and client.refused == 0
    np.testing.assert_array_equal(remote.x_adv, local.x_adv)
    np.testing.assert_array_equal(remote.queries, local.queries)
    assert np.all(np.isfinite(remote.distance)) and remote.robust_accuracy(0.0) <= 1.0
    assert model.predict(remote.x_adv).tolist() != y.tolist()


def test_extraction_pays_for_each_defence(setup):
    """The attacker's cost of each defence, all at the same 160-query budget and seed."""
    costs = {}
    with running(setup, "open") as url:
        with ServiceClient(url, api_key=setup["keys"]["analyst"]) as c:
            costs["probabilities"] = (steal(setup, c, probabilities=True, surrogate=scaled_lr()), c)
        with ServiceClient(url, api_key=setup["keys"]["analyst"]) as c:
            costs["labels"] = (steal(setup, c, surrogate=scaled_lr()), c)
        with ServiceClient(url, api_key=setup["keys"]["user"]) as c:  # a role without probabilities
            with pytest.raises(PermissionError, match="labels only"):
                c.predict_proba(setup["held"][:2])
    with running(setup, "label_only") as url, ServiceClient(url, api_key=setup["keys"]["analyst"]) as c:
        with pytest.raises(PermissionError, match="labels only"):
            steal(setup, c, probabilities=True, surrogate=scaled_lr())
    with running(setup, "budget") as url, ServiceClient(url, api_key=setup["keys"]["analyst"], batch_rows=40) as c:
        costs["daily budget 90"] = (steal(setup, c, surrogate=scaled_lr()), c)
    with running(setup, "rate_limit") as url, ServiceClient(url, api_key=setup["keys"]["analyst"], batch_rows=40) as c:
        costs["rate limit 3/minute"] = (steal(setup, c, surrogate=scaled_lr()), c)
    print("\nanswers / defence      queries  refusals  fidelity  accuracy  fidelity by queries")
    for name, (res, c) in costs.items():
        curve = ", ".join(f"{q}: {f:.3f}" for q, f, _ in res.curve)
        print(f"{name:<22} {res.queries:>7} {c.refused:>9} {res.fidelity:>9.3f} {res.accuracy:>9.3f}  {curve}")
    full, labels = costs["probabilities"][0], costs["labels"][0]
    assert full.queries == labels.queries == 160 and full.refused is None and labels.refused is None
    assert full.answers == "probabilities" and labels.answers == "labels"
    # probabilities teach more per query than labels (soft labels carry the margin)
    assert sum(f for _, f, _ in full.curve) >= sum(f for _, f, _ in labels.curve)
    budget, c = costs["daily budget 90"]
    assert budget.refused == 429 and budget.queries == 80 and c.refused == 1  # 2 batches of 40 fit in 90
    rate, c = costs["rate limit 3/minute"]
    assert rate.refused == 429 and rate.queries == 120 and c.refused == 1
    assert budget.queries < labels.queries and rate.queries < labels.queries


def test_a_stolen_copy_carries_the_watermark(setup):
    from sklearn.neighbors import KNeighborsClassifier

    with running(setup, "watermark") as url, ServiceClient(url, api_key=setup["keys"]["user"]) as c:
        res = steal(setup, c, surrogate=KNeighborsClassifier(n_neighbors=1))
    wm = pw.serve.Watermark(bytes.fromhex(SECRET), (0, 1), 0.2)
    stolen = pw.serve.verify_watermark(res.surrogate.predict, wm, res.X_queries)
    honest = pw.serve.verify_watermark(setup["model"].predict, wm, res.X_queries)
    assert stolen.pvalue < 1e-4 and honest.pvalue > 0.01
    assert res.X_queries.shape == (res.queries, setup["X"].shape[1])


def test_client_refusals_and_bad_input(setup):
    with pytest.raises(ValueError, match="http"):
        ServiceClient("ftp://127.0.0.1:1")
    with running(setup, "budget") as url:
        with ServiceClient(url, api_key="not-a-key") as c, pytest.raises(PermissionError, match="401"):
            c.predict(setup["held"][:2])
        with ServiceClient(url, api_key=setup["keys"]["user"], batch_rows=50) as c:
            with pytest.raises(QueryRefused) as info:
                c.predict(setup["pool"][:120])  # 90 rows a day: the second batch of 50 is refused
            assert info.value.status == 429 and info.value.answers.shape == (50,)
            assert c.queries == 50 and c.refused == 1
            with pytest.raises(ValueError, match="NaN|finite"):
                c.predict(np.full((1, 30), np.nan))
