"""FGSM/PGD: equal to ART's FastGradientMethod / ProjectedGradientDescent on the same model,
exact gradients (against torch autograd and central differences), clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

import pipeward as pw
from pipeward.redteam.gradients import as_differentiable

art = pytest.importorskip("art", reason="ART (adversarial-robustness-toolbox) is the peer; pip install .[test]")
torch = pytest.importorskip("torch")
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent  # noqa: E402
from art.estimators.classification import PyTorchClassifier, SklearnClassifier  # noqa: E402

NORMS = [np.inf, 2, 1]


def _data(n_classes: int, n: int = 400, d: int = 12, seed: int = 0):
    X, y = make_classification(n, d, n_informative=6, n_classes=n_classes, n_clusters_per_class=1,
                               random_state=seed)
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=[2, 3], ids=["binary", "multiclass"])
def linear_models(request):
    X, y = _data(request.param)
    return X, y, [LogisticRegression(max_iter=500).fit(X, y),
                  LinearSVC(C=0.5, max_iter=5000).fit(X, y)]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_and_pgd_equal_art_on_sklearn(linear_models, norm, targeted):
    X, y, models = linear_models
    labels = (y + 1) % len(np.unique(y)) if targeted else y
    for model in models:
        est = SklearnClassifier(model, clip_values=(-2.0, 2.0))
        ours = pw.redteam.fgsm(model, X, labels, 0.4, norm=norm, targeted=targeted, clip_values=(-2.0, 2.0))
        theirs = FastGradientMethod(est, eps=0.4, norm=norm, targeted=targeted).generate(X, y=labels)
        np.testing.assert_allclose(ours.x_adv, theirs, atol=2e-6)
        ours = pw.redteam.pgd(model, X, labels, 0.4, 0.07, 8, norm=norm, targeted=targeted)
        theirs = ProjectedGradientDescent(SklearnClassifier(model), eps=0.4, eps_step=0.07, max_iter=8,
                                          norm=norm, targeted=targeted, verbose=False).generate(X, y=labels)
        np.testing.assert_allclose(ours.x_adv, theirs, atol=2e-6)
        assert not np.array_equal(ours.x_adv, X)


def _torch_twin(mlp: MLPClassifier) -> torch.nn.Module:
    """The same network in torch (binary: logits [0, z] give softmax == sigmoid(z))."""
    layers: list[torch.nn.Module] = []
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "logistic": torch.nn.Sigmoid}[mlp.activation]
    for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        lin = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.astype(np.float32)))
            lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        layers.append(lin)
        if i < len(mlp.coefs_) - 1:
            layers.append(act())
    if mlp.coefs_[-1].shape[1] == 1:
        class ZeroFirst(torch.nn.Module):
            def forward(self, z):
                return torch.cat([torch.zeros_like(z), z], dim=1)
        layers.append(ZeroFirst())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize(("n_classes", "activation"), [(2, "relu"), (3, "tanh"), (3, "logistic")])
def test_mlp_gradient_is_torch_autograd_and_pgd_equals_art(n_classes, activation):
    X, y = _data(n_classes)
    mlp = MLPClassifier((16, 8), activation=activation, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    twin = _torch_twin(mlp)
    xt = torch.from_numpy(X).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(twin(xt), torch.from_numpy(y), reduction="sum")
    (expected,) = torch.autograd.grad(loss, xt)
    X64 = X.astype(np.float64)
    got = as_differentiable(mlp).loss_gradient(X64, y)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
    est = PyTorchClassifier(twin, loss=torch.nn.CrossEntropyLoss(), input_shape=(X.shape[1],),
                            nb_classes=n_classes)
    for norm in (np.inf, 2):
        ours = pw.redteam.pgd(mlp, X, y, 0.3, 0.05, 6, norm=norm)
        theirs = ProjectedGradientDescent(est, eps=0.3, eps_step=0.05, max_iter=6, norm=norm, batch_size=len(X),
                                          verbose=False).generate(X, y=y)
        # float32 sign flips of near-zero gradient entries are the only allowed difference
        assert np.mean(np.abs(ours.x_adv - theirs) > 1e-4) < 1e-3


def _central_difference(loss, X, h=1e-6):
    g = np.zeros_like(X)
    for j in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[j] = h
        g[:, j] = (loss(X + e) - loss(X - e)) / (2 * h)
    return g


@pytest.mark.parametrize("loss_name", ["log_loss", "hinge"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_sgd_gradient_matches_central_differences(loss_name, n_classes):
    X, y = _data(n_classes)
    X = X.astype(np.float64)
    model = SGDClassifier(loss=loss_name, random_state=0, max_iter=50, tol=None).fit(X, y)
    rows = np.arange(len(y))
    if loss_name == "log_loss":
        def loss(Z):
            return -np.log(model.predict_proba(Z)[rows, y])
    else:  # the negative true-class margin (ART's LinearSVC convention)
        def loss(Z):
            f = model.decision_function(Z)
            return np.where(y == 1, -f, f) if f.ndim == 1 else -f[rows, y]
    np.testing.assert_allclose(as_differentiable(model).loss_gradient(X, y),
                               _central_difference(loss, X), rtol=1e-3, atol=1e-6)


def test_pgd_on_torch_cnn_equals_art():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 10))
    X = np.random.default_rng(0).uniform(0, 1, (64, 1, 8, 8)).astype(np.float32)
    y = np.arange(64) % 10
    est = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                            clip_values=(0.0, 1.0))
    ours = pw.redteam.pgd(net, X, y, 0.1, 0.02, 5, clip_values=(0.0, 1.0))
    assert net.training  # the module's mode is restored (ART leaves it in eval mode)
    theirs = ProjectedGradientDescent(est, eps=0.1, eps_step=0.02, max_iter=5, batch_size=64, verbose=False).generate(X, y=y)
    assert np.mean(np.abs(ours.x_adv - theirs) > 1e-4) < 1e-3
    assert ours.x_adv.min() >= 0.0 and ours.x_adv.max() <= 1.0


def test_result_numbers_and_audit_record(tmp_path):
    X, y = _data(2)
    model = LogisticRegression().fit(X, y)
    weak, strong = (pw.redteam.pgd(model, X, y, eps, eps / 4, 10) for eps in (0.05, 1.0))
    pred = model.predict(strong.x_adv)
    assert strong.robust_accuracy == pytest.approx(np.mean(pred == y))
    correct = model.predict(X) == y
    assert strong.success_rate == pytest.approx(np.mean(pred[correct] != y[correct]))
    assert strong.clean_accuracy == pytest.approx(np.mean(correct))
    assert weak.robust_accuracy > strong.robust_accuracy
    assert np.abs(strong.x_adv - X).max() <= 1.0 + 1e-6
    log = pw.AuditLog(tmp_path / "audit.db")
    rec = strong.record(log)
    assert rec.action == "redteam.pgd" and rec.payload["robust_accuracy"] == strong.robust_accuracy
    assert log.verify().ok


def test_targeted_attack_reaches_targets():
    X, y = _data(3)
    model = LogisticRegression(max_iter=500).fit(X, y)
    target = (y + 1) % 3
    res = pw.redteam.pgd(model, X, target, 3.0, 0.3, 30, targeted=True)
    assert res.success_rate == pytest.approx(np.mean(model.predict(res.x_adv) == target))
    assert res.success_rate > 0.9


@pytest.mark.parametrize("norm", NORMS)
def test_random_start_stays_in_ball_and_is_seeded(norm):
    X, y = _data(2)
    X = np.clip(X, -3, 3)
    model = LogisticRegression().fit(X, y)
    a = pw.redteam.pgd(model, X, y, 0.5, 0.1, 3, norm=norm, random_start=True, seed=7, clip_values=(-3, 3))
    b = pw.redteam.pgd(model, X, y, 0.5, 0.1, 3, norm=norm, random_start=True, seed=7, clip_values=(-3, 3))
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    size = np.linalg.norm(a.x_adv - X, ord=norm, axis=1)
    assert size.max() <= 0.5 + 1e-5
    assert a.x_adv.min() >= -3 and a.x_adv.max() <= 3


def test_bad_inputs_are_clear_errors():
    X, y = _data(2)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="eps"):
        pw.redteam.fgsm(model, X, y, -0.1)
    with pytest.raises(ValueError, match="eps_step"):
        pw.redteam.pgd(model, X, y, 0.1, 0.0, 3)
    with pytest.raises(ValueError, match="max_iter"):
        pw.redteam.pgd(model, X, y, 0.1, 0.01, 0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pw.redteam.fgsm(model, bad, y, 0.1)
    with pytest.raises(ValueError, match="non-empty"):
        pw.redteam.fgsm(model, X[:0], y[:0], 0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        pw.redteam.fgsm(model, X.astype(np.int64), y, 0.1)
    with pytest.raises(ValueError, match="not fitted"):
        pw.redteam.fgsm(LogisticRegression(), X, y, 0.1)
    with pytest.raises(TypeError, match="torch.nn.Module, a fitted"):
        pw.redteam.fgsm(object(), X, y, 0.1)
    with pytest.raises(ValueError, match="not among the model's classes"):
        pw.redteam.fgsm(model, X, y + 5, 0.1)
    with pytest.raises(ValueError, match="one per row"):
        pw.redteam.fgsm(model, X, y[:-1], 0.1)
    with pytest.raises(ValueError, match="norm"):
        pw.redteam.fgsm(model, X, y, 0.1, norm=3)
    with pytest.raises(ValueError, match="lo < hi"):
        pw.redteam.fgsm(model, X, y, 0.1, clip_values=(1, 0))
    net = torch.nn.Linear(12, 2)
    with pytest.raises(TypeError, match="module's dtype"):
        pw.redteam.fgsm(net, X.astype(np.float64), y, 0.1)


class _Logistic:
    """A logistic model outside scikit-learn: its linear attributes and a matching predict_proba."""

    def __init__(self, coef, intercept, classes, proba_scale=1.0):
        self.coef_, self.intercept_, self.classes_ = coef, intercept, classes
        self.scale = proba_scale

    def predict_proba(self, X):
        z = self.scale * (X @ self.coef_.T + self.intercept_)
        if z.shape[1] == 1:
            z = np.hstack([np.zeros_like(z), z])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_duck_typed_logistic_model_is_attacked_like_logistic_regression(n_classes):
    X, y = make_classification(200, 6, n_informative=4, n_classes=n_classes, random_state=0)
    lr = LogisticRegression(max_iter=2000).fit(X, y)
    duck = _Logistic(lr.coef_, lr.intercept_, lr.classes_)
    want = pw.redteam.pgd(lr, X, y, 0.3, 0.1, 10)
    got = pw.redteam.pgd(duck, X, y, 0.3, 0.1, 10)
    np.testing.assert_array_equal(got.x_adv, want.x_adv)
    # predict_proba that is not the softmax of the linear scores: no gradient is guessed
    with pytest.raises(TypeError, match="logistic model"):
        pw.redteam.fgsm(_Logistic(lr.coef_, lr.intercept_, lr.classes_, proba_scale=2.0), X, y, 0.1)


@pytest.mark.parametrize("final", ["logistic", "mlp"])
def test_pipeline_gradient_is_the_chain_rule_through_its_scalers(final):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = make_classification(300, 5, n_informative=3, n_classes=3, random_state=1)
    X = (X * [1, 10, 100, 0.1, 5] + 3).astype(np.float64)  # features on very different scales
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        last = (LogisticRegression(max_iter=500) if final == "logistic"
                else MLPClassifier((8,), activation="tanh", max_iter=200, random_state=0))
        pipe = make_pipeline(MinMaxScaler(), StandardScaler(), last).fit(X, y)
    m = as_differentiable(pipe)
    np.testing.assert_array_equal(m.classes_[m.predict_index(X)], pipe.predict(X))

    def loss(Z, yi):  # the pipeline's own cross-entropy, row by row
        return -np.log(pipe.predict_proba(Z)[np.arange(len(Z)), yi])

    yi = np.searchsorted(pipe.classes_, y)[:20]
    grad = m.loss_gradient(X[:20], yi)
    h = 1e-6 * np.abs(X[:20]).max(axis=0)
    numeric = np.stack([(loss(X[:20] + h * e, yi) - loss(X[:20] - h * e, yi)) / (2 * h[j])
                        for j, e in enumerate(np.eye(5))], axis=1)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-8 * np.abs(numeric).max())
    res = pw.redteam.pgd(pipe, X, y, 0.5, 0.1, 10)
    assert res.robust_accuracy <= res.clean_accuracy
    from sklearn.preprocessing import PolynomialFeatures

    with pytest.raises(TypeError, match="StandardScaler and MinMaxScaler"):
        as_differentiable(make_pipeline(PolynomialFeatures(), LogisticRegression()))
