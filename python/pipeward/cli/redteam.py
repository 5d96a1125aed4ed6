"""``pipeward redteam``: attack a saved model; exit 1 when a policy line is crossed.

The model is a packaged model directory (``pipeward package``; verified with ``--pubkey``
before anything loads), a skops file or an ONNX file. Evasion is white-box PGD where exact
gradients exist (scikit-learn LogisticRegression, linear SVMs, SGDClassifier, MLPClassifier,
also behind StandardScaler/MinMaxScaler steps of a Pipeline); anything else, ONNX graphs
included, gets black-box HopSkipJump (L2, labels only) on the first ``--black-box-rows`` rows. Poisoning retrains the model (a scikit-learn one)
on half of DATA, poisoned, with and without ``pw.screen`` in front, and scores it on the other half.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError

ATTACKS = ("evasion", "membership", "extraction", "poisoning")
POISONS = ("backdoor", "targeted_flip", "random_flip")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "redteam",
        help="attack a model (evasion, membership inference, extraction, poisoning) and gate on the results",
        description="Attack a model on DATA and print how far each attack got. MODEL is a packaged "
                    "model directory (pipeward package; needs --pubkey), a .skops or an .onnx file. "
                    "Exits 1 when a --min/--max policy line is crossed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  pipeward redteam model.skops --data test.csv --labels target --eps 0.05,0.1,0.2 \\\n"
               "      --min-robust-accuracy 0.5\n"
               "  pipeward redteam model_dir --pubkey release.pem.pub --data audit.csv --labels y \\\n"
               "      --members was_trained --attacks membership --max-membership-auc 0.6 --json\n"
               "  pipeward redteam model.onnx --data test.csv --labels y --eps 0.5   # black-box only\n"
               "  pipeward redteam model.skops --data train.csv --labels y --attacks poisoning \\\n"
               "      --poison backdoor --max-poison-success 0.1",
    )
    p.add_argument("model", help="a packaged model directory, a .skops or an .onnx file")
    p.add_argument("--pubkey", help="Ed25519 public key that signed a model directory")
    p.add_argument("--data", required=True, help="the data: .npy, .npz, .csv, .parquet")
    p.add_argument("--labels", required=True, metavar="COLUMN", help="the label column")
    p.add_argument("--attacks", default="evasion,extraction",
                   help=f"comma-separated, of {', '.join(ATTACKS)} (default evasion,extraction)")
    p.add_argument("--members", metavar="COLUMN",
                   help="a 0/1 column marking the rows the model was trained on (membership)")
    p.add_argument("--eps", default="0.1",
                   help="attack budget(s), comma-separated: L-inf for white-box PGD, L2 for black-box "
                        "HopSkipJump; policy lines apply to the largest (default 0.1)")
    p.add_argument("--budget", type=int, help="queries for extraction (default half the rows)")
    p.add_argument("--shadows", type=int, default=8, help="LiRA shadow models (default 8)")
    p.add_argument("--black-box-rows", type=int, default=20,
                   help="rows HopSkipJump attacks when the model has no gradients (default 20)")
    p.add_argument("--min-robust-accuracy", type=float, help="fail below this robust accuracy")
    p.add_argument("--max-membership-auc", type=float, help="fail above this membership AUC")
    p.add_argument("--max-extraction-fidelity", type=float, help="fail above this surrogate fidelity")
    p.add_argument("--poison", default="backdoor", choices=POISONS, help="the poisoning attack (default backdoor)")
    p.add_argument("--poison-rate", type=float, default=0.05, help="share of training rows poisoned (default 0.05)")
    p.add_argument("--max-poison-success", type=float,
                   help="fail when the poisoning attack succeeds above this with pw.screen in front of training")
    p.add_argument("--audit", metavar="DB", help="append every result and policy check to this audit log")
    p.add_argument("--model-name", help="the model's name in the audit records (default: MODEL's file name)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _load_skops(path: Path) -> Any:
    try:
        import skops.io as sio  # noqa: PLC0415
    except ImportError:
        raise CLIError("loading a .skops model needs skops: pip install pipeward[redteam]") from None
    try:
        unknown = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on a bad file
        raise CLIError(f"{path}: not a skops file ({type(exc).__name__}: {exc})") from None
    foreign = [t for t in unknown if not t.startswith(("sklearn.", "numpy."))]
    if foreign:  # only scikit-learn's and NumPy's own types are loaded without asking
        raise CLIError(f"{path}: refusing to load types outside scikit-learn/NumPy: {', '.join(foreign[:5])}")
    return sio.load(path, trusted=unknown)


def _load_model(path: Path, pubkey: str | None) -> tuple[Any, Any]:
    """(a predict/predict_proba/classes_ object, the estimator when it is a scikit-learn one)."""
    if not path.exists():
        raise CLIError(f"{path}: no such file or directory")
    if path.is_dir() or path.suffix.lower() == ".onnx":
        try:
            from ..serve.model_dir import ModelDirError, load_model_dir  # noqa: PLC0415
            from ..serve.model_file import load_model_file  # noqa: PLC0415
        except ImportError:
            raise CLIError("model directories and ONNX files need the serve extra: pip install pipeward[serve]") from None
        if path.is_dir():
            if pubkey is None:
                raise CLIError(f"{path}: a model directory needs --pubkey to verify its manifest")
            try:
                served = load_model_dir(path, Path(pubkey)).model
            except (ModelDirError, OSError) as exc:
                raise CLIError(str(exc)) from None
        else:
            try:
                served = load_model_file(path.parent, {"format": "onnx", "file": path.name})
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds on a bad file
                raise CLIError(f"{path}: not a usable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
        estimator = getattr(served.predict, "__self__", None) if served.kind == "skops" else None
        return _Served(served), estimator
    if path.suffix.lower() != ".skops":
        raise CLIError(f"{path}: expected a model directory, a .skops or an .onnx file")
    model = _load_skops(path)
    return model, model


class _Served:
    """A loaded ServedModel with the estimator names the attacks read."""

    def __init__(self, served: Any) -> None:
        self.predict = served.predict
        if served.predict_proba is not None:
            self.predict_proba = served.predict_proba
        if served.classes:
            self.classes_ = np.asarray(served.classes)


def _white_box(estimator: Any) -> bool:
    from ..redteam.gradients import as_differentiable  # noqa: PLC0415

    try:
        as_differentiable(estimator)
    except (TypeError, ValueError):
        return False
    return True


def _eps_list(text: str) -> list[float]:
    try:
        values = sorted(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CLIError(f"--eps: expected numbers separated by commas, got {text!r}") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise CLIError(f"--eps: expected finite values > 0, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from .. import redteam  # noqa: PLC0415
    from ..audit import AuditLog  # noqa: PLC0415
    from ..audit.kinds import REDTEAM_ATTACK  # noqa: PLC0415
    from .._validate import estimator_matrix  # noqa: PLC0415
    from .screen import _load  # noqa: PLC0415

    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    bad = sorted(set(attacks) - set(ATTACKS))
    if bad or not attacks:
        raise CLIError(f"--attacks: expected some of {', '.join(ATTACKS)}, got {args.attacks!r}")
    eps_values = _eps_list(args.eps)
    if args.black_box_rows < 1:
        raise CLIError(f"--black-box-rows: expected a positive count, got {args.black_box_rows}")
    path = Path(args.model)
    model, estimator = _load_model(path, args.pubkey)
    white_box = estimator is not None and _white_box(estimator)
    _, features, y = _load(Path(args.data), args.labels)
    members = None
    if args.members is not None:
        # features is a mapping of columns (CSV), a DataFrame (Parquet) or an array (.npy/.npz)
        names = list(features.keys()) if hasattr(features, "keys") else []
        if args.members not in names:
            raise CLIError(f"--members: no column {args.members!r} in {args.data}")
        members = np.asarray(features[args.members]).astype(bool)
        features = {k: features[k] for k in names if k != args.members}
    try:
        X = np.ascontiguousarray(estimator_matrix(features, "--data")[0], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{args.data}: {exc}") from None
    results: list[Any] = []
    checks: list[dict[str, Any]] = []

    def check(attack: str, metric: str, value: float, threshold: float | None, fails: bool, words: str) -> None:
        if threshold is not None:
            checks.append({"attack": attack, "metric": metric, "value": value, "threshold": threshold,
                           "passed": not fails, "words": words})

    if "evasion" in attacks:
        eps_top = eps_values[-1]
        if white_box:
            for eps in eps_values:
                results.append(redteam.pgd(estimator, X, y, eps, eps / 4, 20))
            robust = results[-1].robust_accuracy
            name, norm = "pgd", "L-inf"
        else:  # no gradients: label-only HopSkipJump on a few rows, robust accuracy at each eps (L2)
            rows = slice(0, args.black_box_rows)
            res = redteam.hop_skip_jump(model.predict, X[rows], y[rows], seed=0)
            results.append(res)
            robust = res.robust_accuracy(eps_top)
            name, norm = "hop_skip_jump", "L2"
        check(name, "robust_accuracy", robust, args.min_robust_accuracy,
              args.min_robust_accuracy is not None and robust < args.min_robust_accuracy,
              f"robust accuracy {robust:.3f} at {norm} eps {eps_top:g} ({name}) is below {args.min_robust_accuracy}")
    if "membership" in attacks:
        if members is None:
            raise CLIError("--attacks membership needs --members COLUMN (which rows were trained on)")
        if not callable(getattr(model, "predict_proba", None)):
            raise CLIError(f"{path}: membership inference needs class probabilities, and this model gives none")
        if estimator is not None:
            from sklearn.base import clone  # noqa: PLC0415

            res = redteam.membership_inference(model, X, y, members, train_fn=lambda A, b: clone(estimator).fit(A, b),
                                               n_shadows=args.shadows, seed=0)
        else:  # no way to train shadow models like it: the loss-threshold attack
            res = redteam.membership_inference(model, X, y, members, method="loss")
        results.append(res)
        check("membership", "auc", res.auc, args.max_membership_auc,
              args.max_membership_auc is not None and res.auc > args.max_membership_auc,
              f"membership AUC {res.auc:.3f} is above {args.max_membership_auc}")
    if "extraction" in attacks:
        budget = args.budget if args.budget is not None else max(2, X.shape[0] // 2)
        res = redteam.extract(model.predict, X, budget=min(budget, X.shape[0]), X_eval=X, y_eval=y, seed=0)
        results.append(res)
        check("extraction", "fidelity", res.fidelity, args.max_extraction_fidelity,
              args.max_extraction_fidelity is not None and res.fidelity > args.max_extraction_fidelity,
              f"extraction fidelity {res.fidelity:.3f} after {res.queries} queries is above "
              f"{args.max_extraction_fidelity}")
    if "poisoning" in attacks:
        if estimator is None:
            raise CLIError(f"{path}: poisoning retrains the model, which needs a scikit-learn model (skops)")
        if not 0 < args.poison_rate < 1:
            raise CLIError(f"--poison-rate: expected a share in (0, 1), got {args.poison_rate}")
        from sklearn.base import clone  # noqa: PLC0415

        order = np.random.default_rng(0).permutation(X.shape[0])
        fit_rows, test_rows = order[: X.shape[0] // 2], order[X.shape[0] // 2:]
        res = redteam.poison(lambda A, b: clone(estimator).fit(A, b), X[fit_rows], y[fit_rows], X[test_rows],
                             y[test_rows], kind=args.poison, rate=args.poison_rate, seed=0)
        results.append(res)
        check("poisoning", "attack_success_screened", res.attack_success_screened, args.max_poison_success,
              args.max_poison_success is not None and res.attack_success_screened > args.max_poison_success,
              f"{args.poison} poisoning succeeds {res.attack_success_screened:.3f} with the screen in front, "
              f"above {args.max_poison_success}")
    failures = [c["words"] for c in checks if not c["passed"]]
    if args.audit:
        name = args.model_name or path.name
        with AuditLog(args.audit) as log:
            for res in results:
                res.record(log, subject=name, model=name)
            for c in checks:
                log.append(REDTEAM_ATTACK, {"model": name, **{k: v for k, v in c.items() if k != "words"}},
                           subject=name)
    mode = "white-box (exact gradients)" if white_box else "black-box (labels and probabilities only: no gradients)"
    if args.json:
        print(json.dumps({"model": str(path), "mode": mode,
                          "results": [{"attack": r.attack, **r.summary()} for r in results],
                          "checks": [{k: v for k, v in c.items() if k != "words"} for c in checks],
                          "failures": failures}, indent=2))
    else:
        print(f"{path}: {mode}")
        for r in results:
            fields = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in r.summary().items() if not isinstance(v, list))
            print(f"{r.attack}: {fields}")
        for f in failures:
            print(f"FAILED: {f}")
    return EXIT_CHECK_FAILED if failures else EXIT_OK
