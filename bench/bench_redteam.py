"""Red-team benchmarks: pipeward's FGSM/PGD and membership attacks against ART on the same model,
the same data (and the same shadow models), in one run (ART with its default batch sizes, as a
user calls it), and the vote-count kernel.

Run: python -m pytest bench/bench_redteam.py --benchmark-only --benchmark-columns=median,min,rounds
ART is slow on these sizes, so its cases run few rounds (pedantic); the ratios in
bench/RESULTS.md are medians side by side.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pipeward as pw

art = pytest.importorskip("art", reason="ART is the peer: pip install .[bench]")
torch = pytest.importorskip("torch")
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent  # noqa: E402
from art.estimators.classification import PyTorchClassifier, SklearnClassifier  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

ROWS = 10_000
EPS, STEP, ITERS = 0.3, 0.01, 40


@pytest.fixture(scope="module")
def tabular():
    X, y = make_classification(ROWS, 30, n_informative=12, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def logistic(tabular):
    X, y = tabular
    return LogisticRegression(max_iter=300).fit(X, y)


@pytest.fixture(scope="module")
def mlp(tabular):
    X, y = tabular
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((64, 32), max_iter=30, random_state=0).fit(X[:3000], y[:3000])
    # ART has no MLPClassifier gradients: its peer is the same network in torch.
    twin = torch.nn.Sequential(torch.nn.Linear(30, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
                               torch.nn.ReLU(), torch.nn.Linear(32, 1))
    with torch.no_grad():
        for lin, W, b in zip(twin[::2], model.coefs_, model.intercepts_):
            lin.weight.copy_(torch.from_numpy(W.T.astype(np.float32)))
            lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))

    class TwoLogits(torch.nn.Module):
        def forward(self, x):
            z = twin(x)
            return torch.cat([torch.zeros_like(z), z], dim=1)

    est = PyTorchClassifier(TwoLogits(), loss=torch.nn.CrossEntropyLoss(), input_shape=(30,), nb_classes=2)
    return model, est


def _art(benchmark, attack, X, y, rounds):
    return benchmark.pedantic(attack.generate, args=(X,), kwargs={"y": y}, rounds=rounds, iterations=1)


@pytest.mark.benchmark(group="fgsm-logistic-10000x30")
def test_fgsm_logistic_pipeward(benchmark, tabular, logistic):
    X, y = tabular
    benchmark(pw.redteam.fgsm, logistic, X, y, EPS)


@pytest.mark.benchmark(group="fgsm-logistic-10000x30")
def test_fgsm_logistic_art(benchmark, tabular, logistic):
    X, y = tabular
    _art(benchmark, FastGradientMethod(SklearnClassifier(logistic), eps=EPS), X, y, 5)


@pytest.mark.benchmark(group="pgd40-logistic-10000x30")
def test_pgd_logistic_pipeward(benchmark, tabular, logistic):
    X, y = tabular
    benchmark(pw.redteam.pgd, logistic, X, y, EPS, STEP, ITERS)


@pytest.mark.benchmark(group="pgd40-logistic-10000x30")
def test_pgd_logistic_art(benchmark, tabular, logistic):
    X, y = tabular
    attack = ProjectedGradientDescent(SklearnClassifier(logistic), eps=EPS, eps_step=STEP, max_iter=ITERS,
                                      verbose=False)
    _art(benchmark, attack, X, y, 2)


@pytest.mark.benchmark(group="fgsm-mlp-10000x30")
def test_fgsm_mlp_pipeward(benchmark, tabular, mlp):
    X, y = tabular
    benchmark(pw.redteam.fgsm, mlp[0], X, y, EPS)


@pytest.mark.benchmark(group="fgsm-mlp-10000x30")
def test_fgsm_mlp_art(benchmark, tabular, mlp):
    X, y = tabular
    _art(benchmark, FastGradientMethod(mlp[1], eps=EPS), X, y, 3)


@pytest.mark.benchmark(group="pgd40-mlp-10000x30")
def test_pgd_mlp_pipeward(benchmark, tabular, mlp):
    X, y = tabular
    benchmark(pw.redteam.pgd, mlp[0], X, y, EPS, STEP, ITERS)


@pytest.mark.benchmark(group="pgd40-mlp-10000x30")
def test_pgd_mlp_art(benchmark, tabular, mlp):
    X, y = tabular
    attack = ProjectedGradientDescent(mlp[1], eps=EPS, eps_step=STEP, max_iter=ITERS, verbose=False)
    _art(benchmark, attack, X, y, 1)


@pytest.fixture(scope="module")
def digits_cnn():
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(32 * 4 * 4, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    est = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                            clip_values=(0.0, 1.0))
    return X, y, net, est


@pytest.mark.benchmark(group="pgd10-cnn-digits")
def test_pgd_cnn_pipeward(benchmark, digits_cnn):
    X, y, net, _ = digits_cnn
    benchmark.pedantic(pw.redteam.pgd, args=(net, X, y, 0.1, 0.02, 10), kwargs={"clip_values": (0.0, 1.0)},
                       rounds=3, iterations=1)


@pytest.mark.benchmark(group="pgd10-cnn-digits")
def test_pgd_cnn_art(benchmark, digits_cnn):
    X, y, _, est = digits_cnn
    attack = ProjectedGradientDescent(est, eps=0.1, eps_step=0.02, max_iter=10, verbose=False)
    _art(benchmark, attack, X, y, 3)


@pytest.fixture(scope="module")
def votes():
    rng = np.random.default_rng(0)
    return rng.integers(0, 10, (100_000, 1000)).astype(np.uint8)


@pytest.mark.benchmark(group="vote-100000x1000")
def test_vote_native(benchmark, votes):
    from pipeward import _core

    benchmark(_core.vote_count, votes, 10)


@pytest.mark.benchmark(group="vote-100000x1000")
def test_vote_reference(benchmark, votes):
    from pipeward.reference.vote import count_votes

    benchmark.pedantic(count_votes, args=(votes, 10), rounds=3, iterations=1)


@pytest.mark.benchmark(group="lira-scoring-10000x64")
def test_lira_scoring(benchmark):
    from pipeward.redteam.membership import lira_scores

    rng = np.random.default_rng(0)
    shadow = rng.normal(size=(10_000, 64))
    inside = rng.random((10_000, 64)).argsort(axis=1) < 32
    target = rng.normal(size=10_000)
    benchmark(lira_scores, target, shadow, inside, online=True, global_variance=False)


# --- membership inference: the same target, audit set and shadow models (ART's ShadowModels) ---
@pytest.fixture(scope="module")
def membership():
    from art.attacks.inference.membership_inference import ShadowModels

    X, y = make_classification(30_000, 30, n_informative=12, flip_y=0.2, random_state=1)
    X_audit, y_audit, X_pool, y_pool = X[:10_000], y[:10_000], X[10_000:], y[10_000:]
    member = np.random.default_rng(0).random(10_000) < 0.5
    target = LogisticRegression(max_iter=300).fit(X_audit[member], y_audit[member])
    shadows = ShadowModels(SklearnClassifier(LogisticRegression(max_iter=300).fit(X_pool, y_pool)),
                           num_shadow_models=16, disjoint_datasets=True, random_state=0)
    shadow_sets = shadows.generate_shadow_dataset(X_pool, np.eye(2)[y_pool])
    return X_audit, y_audit, member, target, shadows.get_shadow_models(), shadow_sets


@pytest.mark.benchmark(group="membership-shadow-attack-10000")
def test_membership_shadow_pipeward(benchmark, membership):
    """LiRA offline on ART's 16 shadow models: their confidences on the audit set, then scores."""
    from pipeward.redteam.membership import confidence_logit, lira_scores

    X, y, _, target, shadows, _ = membership

    def attack():
        phi = np.column_stack([confidence_logit(m.predict(X), y) for m in shadows])
        return lira_scores(confidence_logit(target.predict_proba(X), y), phi,
                           np.zeros_like(phi, dtype=bool), online=False)

    benchmark(attack)


@pytest.mark.benchmark(group="membership-shadow-attack-10000")
def test_membership_shadow_art(benchmark, membership):
    """ART's shadow-model attack: a random forest on the 16 shadows' predictions, then inference."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    X, y, _, target, _, ((mx, my, mp), (nx, ny, npred)) = membership

    def attack():
        art_attack = MembershipInferenceBlackBox(SklearnClassifier(target), input_type="prediction",
                                                 attack_model_type="rf")
        art_attack.fit(x=mx, y=my, test_x=nx, test_y=ny, pred=mp, test_pred=npred)
        return art_attack.infer(X, y, probabilities=True)

    benchmark.pedantic(attack, rounds=3, iterations=1)


@pytest.mark.benchmark(group="membership-threshold-10000")
def test_membership_loss_pipeward(benchmark, membership):
    X, y, member, target, _, _ = membership
    benchmark(pw.redteam.membership_inference, target, X, y, member, method="loss")


@pytest.mark.benchmark(group="membership-threshold-10000")
def test_membership_rule_based_art(benchmark, membership):
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    X, y, _, target, _, _ = membership
    benchmark(MembershipInferenceBlackBoxRuleBased(SklearnClassifier(target)).infer, X, y)
