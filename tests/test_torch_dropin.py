"""pipeward.torch against Opacus: same clipped sums, same noise scale, same epsilon."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import pipeward.torch as pt  # noqa: E402


def _data(n=192, d=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g))


def _model(seed=0, d=12, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, classes))


def _cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.GroupNorm(2, 4), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 10))


def _one_step(model, optimizer, xb, yb):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(xb), yb).backward()
    optimizer.step()


def _opacus_engine(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opacus.PrivacyEngine(**kwargs)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus' secure-RNG notice, torch's hook notices
        return fn(*args, **kwargs)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(("build", "shape"), [(_model, (12,)), (_cnn, (1, 8, 8))])
def test_clipped_step_equals_opacus(build, shape, reduction):
    # No noise: both take the same clipped-sum step; parameters must agree to float32 rounding.
    g = torch.Generator().manual_seed(1)
    classes = 10 if shape != (12,) else 3
    ds = TensorDataset(torch.randn(64, *shape, generator=g) * 3,
                       torch.randint(0, classes, (64,), generator=g))
    ours_m, theirs_m = build(), build()
    ours = pt.PrivacyEngine(seed=0).make_private(
        module=ours_m, optimizer=torch.optim.SGD(ours_m.parameters(), lr=1.0),
        data_loader=DataLoader(ds, batch_size=32), noise_multiplier=0.0, max_grad_norm=0.5,
        poisson_sampling=False, loss_reduction=reduction)
    theirs = _quiet(_opacus_engine().make_private, module=theirs_m,
                    optimizer=torch.optim.SGD(theirs_m.parameters(), lr=1.0),
                    data_loader=DataLoader(ds, batch_size=32), noise_multiplier=0.0,
                    max_grad_norm=0.5, poisson_sampling=False, loss_reduction=reduction)
    for (model, optimizer, loader) in (ours, theirs):
        for xb, yb in loader:
            if reduction == "sum":
                optimizer.zero_grad()
                _quiet(lambda m=model, x=xb, y=yb: nn.functional.cross_entropy(
                    m(x), y, reduction="sum").backward())
                _quiet(optimizer.step)
            else:
                _quiet(_one_step, model, optimizer, xb, yb)
    for a, b in zip(ours_m.parameters(), theirs_m.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_noise_has_opacus_scale():
    # The noisy step minus the noiseless one is N(0, (sigma C / B)^2) per coordinate.
    ds = _data()
    steps = {}
    for sigma in (0.0, 2.0):
        m = _model()
        model, opt, loader = pt.PrivacyEngine(seed=3).make_private(
            module=m, optimizer=torch.optim.SGD(m.parameters(), lr=1.0),
            data_loader=DataLoader(ds, batch_size=64), noise_multiplier=sigma, max_grad_norm=1.5,
            poisson_sampling=False)
        xb, yb = next(iter(loader))
        _one_step(model, opt, xb, yb)
        steps[sigma] = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
    noise = (steps[0.0] - steps[2.0]).numpy().astype(np.float64)
    scale = 2.0 * 1.5 / 64
    assert noise.std() == pytest.approx(scale, rel=0.15)
    assert stats.kstest(noise / scale, "norm").pvalue > 1e-3


def test_epsilon_equals_opacus_rdp_accountant():
    ds = _data()
    ours_m, theirs_m = _model(), _model()
    ours_engine, theirs_engine = pt.PrivacyEngine(seed=0), _opacus_engine(accountant="rdp")
    runs = [(ours_engine, *ours_engine.make_private(
                module=ours_m, optimizer=torch.optim.SGD(ours_m.parameters(), lr=0.1),
                data_loader=DataLoader(ds, batch_size=16), noise_multiplier=1.1,
                max_grad_norm=1.0)),
            (theirs_engine, *_quiet(theirs_engine.make_private, module=theirs_m,
                                    optimizer=torch.optim.SGD(theirs_m.parameters(), lr=0.1),
                                    data_loader=DataLoader(ds, batch_size=16),
                                    noise_multiplier=1.1, max_grad_norm=1.0))]
    for _engine, model, opt, loader in runs:
        for xb, yb in loader:
            _quiet(_one_step, model, opt, xb, yb)
    ours, theirs = (engine.get_epsilon(1e-5) for engine, *_ in runs)
    assert ours == pytest.approx(theirs, rel=1e-4)


def test_make_private_with_epsilon_picks_opacus_noise_multiplier():
    ds = _data()
    kwargs = dict(data_loader=DataLoader(ds, batch_size=16), target_epsilon=3.0,
                  target_delta=1e-5, epochs=5, max_grad_norm=1.0)
    m1, m2 = _model(), _model()
    _, ours, _ = pt.PrivacyEngine().make_private_with_epsilon(
        module=m1, optimizer=torch.optim.SGD(m1.parameters(), lr=0.1), **kwargs)
    _, theirs, _ = _quiet(_opacus_engine(accountant="rdp").make_private_with_epsilon,
                          module=m2, optimizer=torch.optim.SGD(m2.parameters(), lr=0.1), **kwargs)
    assert ours.noise_multiplier == theirs.noise_multiplier


def test_poisson_loader_and_empty_batches():
    ds = _data(n=200)
    m = _model()
    model, opt, loader = pt.PrivacyEngine(seed=5).make_private(
        module=m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        data_loader=DataLoader(ds, batch_size=2), noise_multiplier=1.0, max_grad_norm=1.0)
    assert len(loader) == 100 and loader.sample_rate == pytest.approx(0.01)
    sizes = []
    for _ in range(3):
        for xb, yb in loader:
            sizes.append(len(xb))
            assert xb.shape[1:] == (12,) and xb.dtype == torch.float32 and yb.dtype == torch.int64
            before = [p.detach().clone() for p in m.parameters()]
            _one_step(model, opt, xb, yb)
            # every step moves the parameters, an empty batch by pure noise
            assert all(not torch.equal(a, p) for a, p in zip(before, m.parameters()))
    sizes = np.array(sizes)
    assert (sizes == 0).sum() > 0  # P(empty) = 0.99^200 = 0.13 per step
    # Binomial(200, 0.01) batch sizes: mean 2, variance 1.98
    assert sizes.mean() == pytest.approx(2.0, abs=4 * math.sqrt(1.98 / sizes.size))
    assert len(opt.accountant.history) == 1 and opt.accountant.history[0][2] == 300


def test_training_learns_under_privacy():
    from sklearn.datasets import load_digits  # noqa: PLC0415

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    ds = TensorDataset(torch.tensor(x[:1400], dtype=torch.float32), torch.tensor(y[:1400]))
    torch.manual_seed(0)
    m = nn.Linear(64, 10)
    model, opt, loader, engine = pt.make_private(
        m, torch.optim.SGD(m.parameters(), lr=1.0), DataLoader(ds, batch_size=64),
        target_epsilon=3.0, target_delta=1e-5, epochs=6, max_grad_norm=1.0, seed=0)
    for _ in range(6):
        for xb, yb in loader:
            _one_step(model, opt, xb, yb)
    with torch.no_grad():
        acc = (m(torch.tensor(x[1400:], dtype=torch.float32)).argmax(1).numpy() == y[1400:]).mean()
    assert acc > 0.85
    assert 2.9 < engine.get_epsilon(1e-5) < 3.0


def test_secure_mode_and_noise_generator_run():
    ds = _data()
    for kwargs, engine_kwargs in (({}, {"secure_mode": True}),
                                  ({"noise_generator": torch.Generator().manual_seed(1)}, {})):
        m = _model()
        model, opt, loader = pt.PrivacyEngine(**engine_kwargs).make_private(
            module=m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
            data_loader=DataLoader(ds, batch_size=32), noise_multiplier=1.0, max_grad_norm=1.0,
            **kwargs)
        xb, yb = next(iter(loader))
        _one_step(model, opt, xb, yb)
        assert all(torch.isfinite(p).all() for p in m.parameters())


def test_bad_input_is_a_clear_error():
    ds = _data()
    m = _model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    loader = DataLoader(ds, batch_size=16)
    engine = pt.PrivacyEngine()
    with pytest.raises(ValueError, match="max_grad_norm"):
        engine.make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                            max_grad_norm=0.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        engine.make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=-1.0,
                            max_grad_norm=1.0)
    with pytest.raises(ValueError, match="either noise_multiplier or target_epsilon"):
        pt.make_private(m, opt, loader, max_grad_norm=1.0)
    with pytest.raises(ValueError, match="target_delta and epochs"):
        pt.make_private(m, opt, loader, max_grad_norm=1.0, target_epsilon=1.0)
    with pytest.raises(ValueError, match="'prv' is Opacus' own"):
        pt.PrivacyEngine(accountant="prv")
    with pytest.raises(ValueError, match="per-layer"):
        engine.make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                            max_grad_norm=[1.0, 1.0], clipping="per_layer")
    with pytest.raises(ValueError, match="ghost"):
        engine.make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                            max_grad_norm=1.0, grad_sample_mode="ghost")
    with pytest.raises(TypeError, match="does not support"):
        engine.make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                            max_grad_norm=1.0, virtual_batch_size=4)
    other = torch.optim.SGD(_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="not the module's"):
        engine.make_private(module=m, optimizer=other, data_loader=loader, noise_multiplier=1.0,
                            max_grad_norm=1.0)
    bn = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    with pytest.raises(ValueError, match=r"layer 1 \(BatchNorm1d\).*GroupNorm"):
        engine.make_private(module=bn, optimizer=torch.optim.SGD(bn.parameters(), lr=0.1),
                            data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)


def test_wrapped_module_keeps_its_state_and_evaluates_plainly():
    m = _model()
    model, _, _ = pt.PrivacyEngine().make_private(
        module=m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        data_loader=DataLoader(_data(), batch_size=16), noise_multiplier=1.0, max_grad_norm=1.0)
    x = torch.randn(5, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(x), m(x))
    clone = copy.deepcopy(m)
    clone.load_state_dict({k.removeprefix("_module."): v for k, v in model.state_dict().items()})
    torch.testing.assert_close(clone(x), m(x))
