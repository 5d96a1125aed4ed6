"""``pipeward serve``: run the guarded model service on uvicorn."""

from __future__ import annotations

import argparse
import gc
import sys

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError

SWITCH_INTERVAL_S = 0.0005


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a signed model directory behind auth, limits and guards",
        description="Verify DIR's signed manifest with the public key, or against a trust "
                    "store (exit 1 naming the file and the reason when it fails), then serve "
                    "it on uvicorn. Binds 127.0.0.1 unless --host says otherwise.",
        epilog="example: pipeward serve model-dir --pubkey release.pem.pub --keys keys.json\n"
               "         pipeward serve model-dir --trust trust.json --role release --keys keys.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model_dir", metavar="DIR")
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--pubkey", metavar="PUBLIC.pem", help="the one key that signed DIR")
    signer.add_argument("--trust", metavar="STORE",
                        help="trust store (pipeward trust): DIR's signer must be a trusted, valid key")
    p.add_argument("--role", metavar="ROLE", help="with --trust: the role the signer must hold")
    p.add_argument("--keys", required=True, metavar="KEYS.json")
    p.add_argument("--policy", metavar="POLICY.toml")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (share limits with --storage redis://...)")
    p.add_argument("--storage", metavar="URI", help="rate-limit storage: memory:// or redis://HOST:PORT/DB")
    p.add_argument("--audit", metavar="AUDIT.db", help="append every request to this audit log")
    p.add_argument("--model-name", metavar="NAME", help="the model's registered name in the audit "
                   "log (its serve.started, model.artifact and explanation records name it)")
    p.add_argument("--rate-limit", metavar="RATE", help="per-key limit, e.g. '100/minute' (over the policy's)")
    p.add_argument("--shadow", metavar="SHADOW_DIR", help="a second signed model directory (same "
                   "features, verified like DIR) scored off the request path; its disagreement "
                   "rate is the metric pipeward_shadow_disagreement")
    p.add_argument("--ssl-certfile", metavar="F")
    p.add_argument("--ssl-keyfile", metavar="F")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def app_factory():  # noqa: ANN201 - uvicorn's factory for each worker process
    """Build the app from the settings `run` left in the environment (one per worker), and
    tune the worker process for it."""
    # The audit writer and the monitors run beside the handlers in this process; with Python's
    # default 5 ms switch interval a batch of theirs could hold the event loop for that long
    # (a request's tail latency); 0.5 ms bounds the wait.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = build_app()
    # The ~350,000 objects of start-up (scikit-learn, FastAPI, the model) never die: moved out
    # of the collector's generations, a full collection under load walks only what requests
    # made, not all of them (a stall of the event loop of tens of ms otherwise).
    gc.collect()
    gc.freeze()
    return app


def build_app():  # noqa: ANN201 - the FastAPI app
    """The app of the settings `uvicorn_settings` left in the environment."""
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    from ..serve import Policy, create_app  # noqa: PLC0415

    cfg = json.loads(os.environ["PIPEWARD_SERVE_CONFIG"])
    return create_app(cfg["model_dir"], keys=cfg["keys"], policy=_policy(cfg, Policy),
                      public_key=_signer_key(cfg), signer_role=cfg["role"], audit=cfg["audit"],
                      model_name=cfg.get("model_name"), shadow=cfg["shadow"])


def _signer_key(cfg: dict):  # noqa: ANN202 - a public key path or a TrustStore
    if cfg["trust"] is None:
        return cfg["pubkey"]
    from ..trust import TrustStore  # noqa: PLC0415

    try:
        return TrustStore.load(cfg["trust"])
    except OSError as exc:
        raise CLIError(f"cannot read the trust store {cfg['trust']}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _policy(cfg: dict, policy_cls: type):  # noqa: ANN202
    policy = policy_cls.from_toml(cfg["policy"]) if cfg["policy"] else policy_cls()
    limits = {}
    if cfg["rate_limit"]:
        limits["per_key"] = cfg["rate_limit"]
    if cfg["storage"]:
        limits["storage"] = cfg["storage"]
    return policy.replace(limits=limits) if limits else policy


def _feature_names(description: dict) -> list:
    return [f.get("name") for f in description.get("schema", {}).get("features", [])]


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: PLC0415
        from ..serve import ModelDirError  # noqa: PLC0415
    except ImportError as exc:
        raise CLIError(f"serving needs the serve extra: pip install 'pipeward[serve]' ({exc})") from None
    try:
        settings = uvicorn_settings(args)
    except ModelDirError as exc:
        print(f"pipeward serve: refusing to start: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    uvicorn.run(**settings)
    return EXIT_OK


def uvicorn_settings(args: argparse.Namespace) -> dict:
    """Check the arguments, the signed model directory (and shadow) and the policy, once,
    before any worker starts (each worker loads the model itself: ``ModelDirError`` when a
    directory does not verify), leave the settings for the workers' :func:`app_factory` in the
    environment, and return ``uvicorn.run``'s arguments."""
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    from ..serve import Policy, verify_model_dir  # noqa: PLC0415

    if args.role and not args.trust:
        raise CLIError("--role needs --trust")
    if args.workers < 1:
        raise CLIError(f"--workers must be at least 1, got {args.workers}")
    cfg = {"model_dir": os.path.abspath(args.model_dir),
           "pubkey": args.pubkey and os.path.abspath(args.pubkey),
           "trust": args.trust and os.path.abspath(args.trust), "role": args.role,
           "keys": os.path.abspath(args.keys), "policy": args.policy and os.path.abspath(args.policy),
           "audit": args.audit and os.path.abspath(args.audit), "rate_limit": args.rate_limit,
           "storage": args.storage, "model_name": args.model_name,
           "shadow": args.shadow and os.path.abspath(args.shadow)}
    signer = _signer_key(cfg)
    _, served = verify_model_dir(cfg["model_dir"], signer, role=cfg["role"])
    _, shadow = (verify_model_dir(cfg["shadow"], signer, role=cfg["role"]) if cfg["shadow"]
                 else (None, served))
    if _feature_names(shadow) != _feature_names(served):
        raise CLIError(f"--shadow {args.shadow}: its model takes other features than {args.model_dir}'s")
    policy = _policy(cfg, Policy)
    if args.workers > 1 and policy.limits.storage.startswith("memory"):
        print("pipeward serve: warning: with several workers and memory:// storage each worker "
              "counts its own limits; use --storage redis://HOST:PORT/DB to share them",
              file=sys.stderr)
    os.environ["PIPEWARD_SERVE_CONFIG"] = json.dumps(cfg)
    return {"app": "pipeward.cli.serve:app_factory", "factory": True, "host": args.host,
            "port": args.port, "workers": args.workers, "log_level": args.log_level,
            "ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile,
            "access_log": False, "ws": "none"}
