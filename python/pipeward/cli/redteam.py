"""``pipeward redteam``: attack a saved scikit-learn model; exit 1 when a policy line is crossed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError

ATTACKS = ("evasion", "membership", "extraction")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "redteam",
        help="attack a model (evasion, membership inference, extraction) and gate on the results",
        description="Load a scikit-learn model saved with skops, attack it on DATA and print how "
                    "far each attack got. Exits 1 when a --min/--max policy line is crossed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  pipeward redteam model.skops --data test.csv --labels target --eps 0.2 \\\n"
               "      --min-robust-accuracy 0.5\n"
               "  pipeward redteam model.skops --data audit.csv --labels y --members was_trained \\\n"
               "      --attacks membership --max-membership-auc 0.6 --json",
    )
    p.add_argument("model", help="a scikit-learn model saved with skops.io.dump (.skops)")
    p.add_argument("--data", required=True, help="the data: .npy, .npz, .csv, .parquet")
    p.add_argument("--labels", required=True, metavar="COLUMN", help="the label column")
    p.add_argument("--attacks", default="evasion,extraction",
                   help=f"comma-separated, of {', '.join(ATTACKS)} (default evasion,extraction)")
    p.add_argument("--members", metavar="COLUMN",
                   help="a 0/1 column marking the rows the model was trained on (membership)")
    p.add_argument("--eps", type=float, default=0.1, help="L-inf budget of the PGD attack (default 0.1)")
    p.add_argument("--budget", type=int, help="queries for extraction (default half the rows)")
    p.add_argument("--shadows", type=int, default=8, help="LiRA shadow models (default 8)")
    p.add_argument("--min-robust-accuracy", type=float, help="fail below this robust accuracy")
    p.add_argument("--max-membership-auc", type=float, help="fail above this membership AUC")
    p.add_argument("--max-extraction-fidelity", type=float, help="fail above this surrogate fidelity")
    p.add_argument("--audit", metavar="DB", help="append every result to this audit log")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _load_model(path: Path) -> Any:
    if not path.exists():
        raise CLIError(f"{path}: no such file")
    try:
        import skops.io as sio  # noqa: PLC0415
    except ImportError:
        raise CLIError("loading a model needs skops: pip install pipeward[redteam]") from None
    unknown = sio.get_untrusted_types(file=path)
    foreign = [t for t in unknown if not t.startswith(("sklearn.", "numpy."))]
    if foreign:  # only scikit-learn's and NumPy's own types are loaded without asking
        raise CLIError(f"{path}: refusing to load types outside scikit-learn/NumPy: {', '.join(foreign[:5])}")
    return sio.load(path, trusted=unknown)


def run(args: argparse.Namespace) -> int:
    from .. import redteam  # noqa: PLC0415
    from ..audit import AuditLog  # noqa: PLC0415
    from .screen import _load  # noqa: PLC0415

    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    bad = sorted(set(attacks) - set(ATTACKS))
    if bad or not attacks:
        raise CLIError(f"--attacks: expected some of {', '.join(ATTACKS)}, got {args.attacks!r}")
    model = _load_model(Path(args.model))
    _, features, y = _load(Path(args.data), args.labels)
    members = None
    if args.members is not None:
        if not hasattr(features, "columns") or args.members not in features.columns:
            raise CLIError(f"--members: no column {args.members!r} in {args.data}")
        members = features[args.members].to_numpy().astype(bool)
        features = features.drop(columns=[args.members])
    X = np.ascontiguousarray(np.asarray(features, dtype=np.float64))
    results: list[Any] = []
    failures: list[str] = []
    if "evasion" in attacks:
        res = redteam.pgd(model, X, y, args.eps, args.eps / 4, 20)
        results.append(res)
        if args.min_robust_accuracy is not None and res.robust_accuracy < args.min_robust_accuracy:
            failures.append(f"robust accuracy {res.robust_accuracy:.3f} at eps {args.eps} is below "
                            f"{args.min_robust_accuracy}")
    if "membership" in attacks:
        if members is None:
            raise CLIError("--attacks membership needs --members COLUMN (which rows were trained on)")
        from sklearn.base import clone  # noqa: PLC0415

        res = redteam.membership_inference(model, X, y, members, train_fn=lambda A, b: clone(model).fit(A, b),
                                           n_shadows=args.shadows, seed=0)
        results.append(res)
        if args.max_membership_auc is not None and res.auc > args.max_membership_auc:
            failures.append(f"membership AUC {res.auc:.3f} is above {args.max_membership_auc}")
    if "extraction" in attacks:
        budget = args.budget if args.budget is not None else max(2, X.shape[0] // 2)
        res = redteam.extract(model.predict, X, budget=min(budget, X.shape[0]), X_eval=X, y_eval=y, seed=0)
        results.append(res)
        if args.max_extraction_fidelity is not None and res.fidelity > args.max_extraction_fidelity:
            failures.append(f"extraction fidelity {res.fidelity:.3f} after {res.queries} queries is above "
                            f"{args.max_extraction_fidelity}")
    if args.audit:
        log = AuditLog(args.audit)
        for res in results:
            res.record(log, subject=str(args.model))
    if args.json:
        print(json.dumps({"results": [{"attack": r.attack, **r.summary()} for r in results],
                          "failures": failures}, indent=2))
    else:
        for r in results:
            fields = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in r.summary().items() if not isinstance(v, list))
            print(f"{r.attack}: {fields}")
        for f in failures:
            print(f"FAILED: {f}")
    return EXIT_CHECK_FAILED if failures else EXIT_OK
