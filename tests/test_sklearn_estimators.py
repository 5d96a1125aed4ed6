"""pipeward.sklearn: the core detectors as real BaseEstimator/OutlierMixin subclasses.

check_estimator runs on every configuration in test_outliers_detector.py; here: the classes
are scikit-learn's kind of object, compute exactly what the core classes compute, and work
where scikit-learn needs its own base classes."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, OutlierMixin, clone, is_outlier_detector
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import pipeward as pw
from pipeward.sklearn import ClassConditionalDetector, MahalanobisDetector, as_sklearn

pytestmark = pytest.mark.native


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 150)
    X = np.array([[0.0, 0, 0], [5, 0, 0]])[y] + rng.normal(size=(300, 3))
    X[:6] += 9.0
    return X, y


def test_the_classes_are_sklearn_estimators_and_pipeward_detectors():
    for det in (MahalanobisDetector("oas"), ClassConditionalDetector("ledoit_wolf")):
        assert isinstance(det, (BaseEstimator))
        assert isinstance(det, OutlierMixin) and is_outlier_detector(det)
        assert isinstance(det, pw.MahalanobisDetector) and isinstance(det, MahalanobisDetector)
    assert isinstance(ClassConditionalDetector(), pw.ClassConditionalDetector)
    assert not isinstance(pw.MahalanobisDetector(), BaseEstimator)  # the core stays light
    assert repr(MahalanobisDetector("oas", contamination=0.05)) == \
        "MahalanobisDetector(contamination=0.05, method='oas')"
    assert "<div" in MahalanobisDetector()._repr_html_()  # scikit-learn's notebook display


@pytest.mark.parametrize("method", ["empirical", "ledoit_wolf", "oas", "mcd"])
def test_same_numbers_as_the_core_class(data, method):
    X, y = data
    core = pw.MahalanobisDetector(method, random_state=0).fit(X)
    ours = clone(MahalanobisDetector(method, random_state=0)).fit(X)
    np.testing.assert_array_equal(ours.mahalanobis(X), core.mahalanobis(X))
    np.testing.assert_array_equal(ours.fit_predict(X, y), core.fit_predict(X, y))
    core_cc = pw.ClassConditionalDetector(method, random_state=0)
    ours_cc = ClassConditionalDetector(method, random_state=0)
    # y gives the classes here: OutlierMixin.fit_predict would have dropped it
    np.testing.assert_array_equal(ours_cc.fit_predict(X, y), core_cc.fit_predict(X, y))
    np.testing.assert_array_equal(ours_cc.class_distances(X), core_cc.class_distances(X))
    assert not hasattr(ours_cc, "partial_fit")


def test_as_sklearn_keeps_the_fitted_state(data):
    X, _ = data
    core = pw.MahalanobisDetector("ledoit_wolf", contamination=0.02).fit(X)
    ours = as_sklearn(core)
    assert type(ours) is MahalanobisDetector and ours.get_params() == core.get_params()
    np.testing.assert_array_equal(ours.predict(X), core.predict(X))
    assert type(as_sklearn(pw.ClassConditionalDetector())) is ClassConditionalDetector
    assert as_sklearn(ours) is ours
    with pytest.raises(TypeError, match="MahalanobisDetector"):
        as_sklearn(StandardScaler())


def test_pipeline_grid_search_and_round_trips(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MahalanobisDetector("empirical"))
    search = GridSearchCV(pipe, {"mahalanobisdetector__contamination": [0.02, 0.1]}, cv=2)
    search.fit(X, np.where(np.arange(300) < 6, -1, 1))  # scored by accuracy, as EllipticEnvelope
    fitted = search.best_estimator_[-1]
    assert type(fitted) is MahalanobisDetector
    assert search.best_params_ == {"mahalanobisdetector__contamination": 0.02}
    sio = pytest.importorskip("skops.io")
    det = ClassConditionalDetector("mcd", random_state=0).fit(X, y)
    blob = sio.dumps(det)
    for again in (pickle.loads(pickle.dumps(det)),
                  sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))):
        assert type(again) is ClassConditionalDetector
        np.testing.assert_array_equal(again.mahalanobis(X), det.mahalanobis(X))
        np.testing.assert_array_equal(again.predict(X), det.predict(X))


def test_importing_pipeward_does_not_import_it():
    code = "import sys, pipeward; print('sklearn' in sys.modules, 'pipeward.sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
