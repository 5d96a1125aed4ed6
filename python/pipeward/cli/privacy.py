"""``pipeward privacy``: privacy accounting for DP-SGD from the command line."""

from __future__ import annotations

import argparse
import json

from . import CLIError

_EPILOG_EPSILON = """example:
  pipeward privacy epsilon --noise-multiplier 1.1 --sample-rate 0.004 --steps 10000 --delta 1e-5
  pipeward privacy epsilon --noise-multiplier 1.1 --sample-rate 0.004 --steps 10000 --delta 1e-5 --accountant pld --json
  pipeward privacy epsilon --noise-multiplier 1.1 --batch-size 256 --dataset-size 60000 --epochs 40 --delta 1e-5"""
_EPILOG_NOISE = """example:
  pipeward privacy noise --target-epsilon 3 --delta 1e-5 --sample-rate 0.004 --steps 10000"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "privacy", help="privacy accounting for DP-SGD (epsilon, noise calibration)",
        description="Privacy accounting of the Poisson-subsampled Gaussian mechanism (DP-SGD).",
        epilog="example: pipeward privacy epsilon --noise-multiplier 1.1 --sample-rate 0.004 "
               "--steps 10000 --delta 1e-5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="privacy_command", metavar="ACTION")
    actions.required = True

    e = actions.add_parser("epsilon", help="epsilon spent by a training run",
                           description="Epsilon spent after STEPS steps of DP-SGD.",
                           epilog=_EPILOG_EPSILON, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--noise-multiplier", type=float, required=True, help="sigma (noise std / max norm)")
    _common(e)
    e.set_defaults(func=run_epsilon)

    n = actions.add_parser("noise", help="noise multiplier that reaches a target epsilon",
                           description="Smallest noise multiplier (bisection) whose epsilon is at "
                                       "most TARGET_EPSILON.",
                           epilog=_EPILOG_NOISE, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("--target-epsilon", type=float, required=True)
    n.add_argument("--tolerance", type=float, default=0.01,
                   help="epsilon tolerance of the bisection (default 0.01)")
    _common(n)
    n.set_defaults(func=run_noise)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=float,
                   help="Poisson sampling rate q in (0, 1] (or give --batch-size and --dataset-size)")
    p.add_argument("--batch-size", type=int, help="expected batch size B: q = B / dataset size")
    p.add_argument("--dataset-size", type=int, help="number of training examples N")
    p.add_argument("--steps", type=int, help="number of training steps (or give --epochs)")
    p.add_argument("--epochs", type=float,
                   help="epochs E: steps = int(E / q), as Opacus' get_noise_multiplier counts them")
    p.add_argument("--delta", type=float, required=True, help="target delta in (0, 1)")
    p.add_argument("--accountant", choices=("rdp", "pld"), default="rdp",
                   help="rdp (Opacus/dp-accounting RDP, default) or pld (tighter)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="print the number only")


def _rate_and_steps(args: argparse.Namespace) -> tuple[float, int]:
    """q from --sample-rate or --batch-size/--dataset-size; steps from --steps or --epochs."""
    if (args.sample_rate is None) == (args.batch_size is None and args.dataset_size is None):
        raise CLIError("give either --sample-rate or both --batch-size and --dataset-size")
    if args.sample_rate is not None:
        rate = args.sample_rate
    elif args.batch_size is None or args.dataset_size is None:
        raise CLIError("--batch-size and --dataset-size go together")
    elif not 0 < args.batch_size <= args.dataset_size:
        raise CLIError(f"--batch-size must be in 1..--dataset-size ({args.dataset_size}), "
                       f"got {args.batch_size}")
    else:
        rate = args.batch_size / args.dataset_size
    if (args.steps is None) == (args.epochs is None):
        raise CLIError("give either --steps or --epochs")
    if args.steps is not None:
        return rate, args.steps
    if not args.epochs > 0 or not 0 < rate <= 1:
        raise CLIError(f"--epochs must be > 0 with a sample rate in (0, 1], got {args.epochs} "
                       f"and {rate}")
    return rate, int(args.epochs / rate)


def _report(args: argparse.Namespace, result: dict, key: str) -> None:
    if args.json:
        print(json.dumps(result))
    elif args.quiet:
        print(f"{result[key]:.6g}")
    else:
        print(", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in result.items()))


def run_epsilon(args: argparse.Namespace) -> int:
    from ..privacy import epsilon  # noqa: PLC0415

    rate, steps = _rate_and_steps(args)
    try:
        eps = epsilon(args.noise_multiplier, rate, steps, args.delta, accountant=args.accountant)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    _report(args, {"epsilon": eps, "delta": args.delta, "noise_multiplier": args.noise_multiplier,
                   "sample_rate": rate, "steps": steps,
                   "accountant": args.accountant}, "epsilon")
    return 0


def run_noise(args: argparse.Namespace) -> int:
    from ..privacy import epsilon, noise_multiplier_for  # noqa: PLC0415

    rate, steps = _rate_and_steps(args)
    try:
        sigma = noise_multiplier_for(args.target_epsilon, args.delta, rate, steps,
                                     accountant=args.accountant, tolerance=args.tolerance)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    eps = epsilon(sigma, rate, steps, args.delta, accountant=args.accountant)
    _report(args, {"noise_multiplier": sigma, "epsilon": eps, "target_epsilon": args.target_epsilon,
                   "delta": args.delta, "sample_rate": rate, "steps": steps,
                   "accountant": args.accountant}, "noise_multiplier")
    return 0
