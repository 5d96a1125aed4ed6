"""``pipeward demo``: every stage pipeward secures, on real data, in a few seconds.

The story, one step per stage, each printed as one line and recorded in the audit log:

1. integrity  -- the training data is written as files, a manifest is built and signed; one
   file is then tampered with and verification names it (the file is restored and verified
   again before anything reads it).
2. screen     -- the training split carries injected poison (flipped labels and a small
   backdoor cluster); ``pw.screen`` quarantines rows, scored against the injected truth.
3. training   -- logistic regression trained with DP-SGD through ``pw.clip_and_noise`` on the
   screened rows, next to a non-private baseline; epsilon from the RDP accountant.
4. monitoring -- a ``DriftMonitor`` and a Mahalanobis input guard fitted on the training
   rows: no drift on the held-out split, drift named on a shifted copy, corrupted and
   adversarial inputs flagged.
5. serve      -- the model behind ``pw.serve.create_app`` in process (when the serve extra is
   installed): served, rate-limited, rejected and flagged requests, and the watermark found in
   a copy trained on stolen answers; every request lands in the audit log.
6. redteam   -- PGD at growing budgets (the robust-accuracy curve), the membership attack
   on the DP model next to the non-private baseline, and a query-budgeted extraction; all
   recorded, so the model card's "Security testing" section and the report's charts show them.
7. accountability -- fairness across a documented synthetic group (with bootstrap intervals),
   Shapley explanations of the model's log-odds, and a spurious-feature check, all recorded.
8. governance -- the audit log is checkpointed and verified, the GDPR compliance profile is
   checked against it (and recorded), and a model card is built from it.
9. report     -- ``report.html``, one self-contained file with the plots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import audit, lineage, protect
from .._core import __version__
from .._files import write_new_file
from ..accountability import check_compliance, load_profile, record_compliance, record_signature_check
from ..audit import AuditLog, ModelCard
from ..datasets import load_breast_cancer
from ..drift import DriftMonitor
from ..manifest import Manifest
from ..outliers import InputGuard, MahalanobisDetector, screen
from ..privacy import RDPAccountant, clip_and_noise, noise_multiplier_for, poisson_batches
from ..report import write_report
from ..report.accountability import accountability_sections
from ..report.inputs import audit_section, drift_section
from ..signing import generate_keypair
from ..trust import TrustStore
from . import attacks
from .accountability import describe, run_accountability
from .model import fit_dp_sgd, fit_plain
from .redteam import MAX_MEMBERSHIP_AUC, redteam_step

__all__ = ["DemoResult", "Settings", "run_demo"]

DATASET = "breast-cancer-wisconsin"
MODEL = "pipeward-demo-logreg"


@dataclass(frozen=True)
class Settings:
    """Every knob of the demo; ``Settings.fast()`` is the test-suite variant."""

    seed: int = 0
    test_fraction: float = 0.3
    n_flip: int = 20                 # training rows whose label is flipped
    flip_margin: float = 6.0         # ... chosen among rows whose class logit passes this
    n_backdoor: int = 10             # backdoor rows added to the training split
    screen_method: str = "ledoit_wolf"
    trigger: tuple[str, ...] = ("mean fractal dimension", "smoothness error")
    target_epsilon: float = 2.0
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    sample_rate: float = 0.15
    steps: int = 200
    lr: float = 1.0
    shift: tuple[tuple[str, float, float], ...] = (  # feature, scale, offset in sds
        ("mean texture", 1.25, 0.0), ("worst texture", 1.25, 0.0), ("mean smoothness", 1.0, 1.0))
    psi_bins: int = 5
    psi_threshold: float = 0.25
    fgsm_epsilon: float = 1.0        # in standard deviations per feature
    guard_method: str = "ledoit_wolf"
    guard_alpha: float = 0.02        # the input guard's false-positive rate per row
    compliance_profile: str = "gdpr"

    @classmethod
    def fast(cls, seed: int = 0) -> Settings:
        return cls(seed=seed, steps=100)


@dataclass
class DemoResult:
    """The numbers the demo reached, the checks it made and where it wrote its files."""

    checks: dict[str, bool] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "numbers": self.numbers,
                "paths": self.paths, "lines": self.lines}


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    header = ",".join([*names, "target"])
    table = np.column_stack([X, y])
    fmt = ["%.10g"] * X.shape[1] + ["%d"]
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=fmt)


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


def _split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split (indices, each sorted)."""
    train, test = [], []
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        k = round(fraction * rows.size)
        test.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def screen_features(X: np.ndarray) -> np.ndarray:
    """What the screen sees: every feature standardised (the shrinkage of the covariance
    estimate treats all features alike, so they should share a scale)."""
    sd = X.std(axis=0)
    return np.ascontiguousarray((X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0))


def _planted_found(planted: np.ndarray, flagged: np.ndarray, quarantined: np.ndarray) -> dict[str, Any]:
    """How many planted rows of one kind the matching evidence flagged, and the screen quarantined."""
    return {"planted": int(planted.size), "found": int(np.intersect1d(planted, flagged).size),
            "quarantined": int(np.intersect1d(planted, quarantined).size)}


def _precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = np.intersect1d(found, truth).size
    precision = hits / found.size if found.size else 1.0
    recall = hits / truth.size if truth.size else 1.0
    return float(precision), float(recall)


class _Steps:
    """Prints one line per stage and keeps it for the result."""

    def __init__(self, result: DemoResult, echo: Callable[[str], None] | None, total: int) -> None:
        self.result, self.echo, self.total, self.n = result, echo, total, 0
        self.start = time.perf_counter()
        self.summaries: dict[str, str] = {}
        self.stages: dict[str, list[str]] = {}

    def say(self, stage: str, text: str) -> None:
        self.n += 1
        line = f"[{self.n}/{self.total}] {stage:<10} {text}"
        self.result.lines.append(line)
        self.summaries[stage] = text
        if self.echo is not None:
            self.echo(line)

    def check(self, stage: str, name: str, ok: bool) -> None:
        self.result.checks[name] = bool(ok)
        self.stages.setdefault(stage, []).append(name)

    def cards(self) -> list[dict[str, Any]]:
        return [{"stage": stage, "ok": all(self.result.checks[n] for n in names),
                 "summary": self.summaries.get(stage, "")} for stage, names in self.stages.items()]


def run_demo(out: str | Path, *, settings: Settings | None = None,
             echo: Callable[[str], None] | None = print) -> DemoResult:
    """Run the whole pipeline, writing every artefact under ``out``; see the module docstring."""
    s = settings or Settings()
    out = Path(out)
    data_dir, key_dir = out / "data", out / "keys"
    data_dir.mkdir(parents=True, exist_ok=True)
    key_dir.mkdir(parents=True, exist_ok=True)
    key_dir.chmod(0o700)
    private_key_path = key_dir / "demo_ed25519.pem"
    audit_path = out / "audit.db"
    for stale in (audit_path, out / "audit.db-wal", out / "audit.db-shm"):
        stale.unlink(missing_ok=True)  # a fresh log per run: the demo's story starts at zero
    rng = np.random.default_rng(s.seed)
    result = DemoResult()
    serving = _serving_available()
    steps = _Steps(result, echo, 9 if serving else 8)
    report: dict[str, Any] = {"title": "pipeward demo: a secured pipeline on real data",
                              "meta": {"dataset": "Breast Cancer Wisconsin (Diagnostic), 569 x 30",
                                       "pipeward": __version__, "seed": s.seed}}
    log = AuditLog(audit_path, actor="pipeward-demo")
    try:
        private_pem, public_pem = generate_keypair()
        # A throwaway key for this run: owner-only, and said so (see docs/security.md).
        write_new_file(private_key_path, private_pem, 0o600, overwrite=True)
        write_new_file(key_dir / "demo_ed25519.pem.pub", public_pem, 0o644, overwrite=True)
        audit.record_model(
            log, name=MODEL, version=__version__, model_type="logistic regression (NumPy), DP-SGD",
            description="malignant/benign classifier of fine-needle aspirate nucleus features",
            owners=["pipeward demo"],
            intended_use="demonstration of a secured ML pipeline; not for diagnosis",
            out_of_scope_use="any clinical use", license="Apache-2.0",
            limitations=["569 rows from one 1995 study", "binary malignant/benign only"])

        # -- data: split, poison the training split -----------------------------------------
        X_all, y_all, names = load_breast_cancer()
        # Real measurements have natural outliers of their own, which the screen quarantines
        # too; setting them aside first makes the precision below measure the poison.
        vetting = screen(screen_features(X_all), y_all, method=s.screen_method,
                         random_state=s.seed)
        base = np.setdiff1d(np.arange(len(y_all)), vetting.quarantine)
        audit.record_screen(log, n_samples=len(y_all), n_outliers=len(vetting.outliers),
                            n_label_suspects=len(vetting.label_suspects),
                            quarantined=vetting.quarantine.tolist(),
                            method=f"pipeward.screen ({s.screen_method})",
                            dataset=f"{DATASET} (as shipped, before poisoning)")
        X, y = X_all[base], y_all[base]
        train_rows, test_rows = _split(y, s.test_fraction, rng)
        X_train, y_train = X[train_rows], y[train_rows]
        X_test, y_test = X[test_rows], y[test_rows]
        trigger = [names.index(f) for f in s.trigger]
        poisoned = attacks.inject_poison(X_train, y_train, n_flip=s.n_flip, n_backdoor=s.n_backdoor,
                                         trigger=trigger, target=1, rng=rng,
                                         eligible=attacks.clear_cut(X_train, y_train, s.flip_margin))

        # -- 1. integrity -------------------------------------------------------------------
        _write_csv(data_dir / "train.csv", poisoned.X, poisoned.y, names)
        _write_csv(data_dir / "test.csv", X_test, y_test, names)
        (data_dir / "dataset.json").write_text(json.dumps(
            {"name": DATASET, "features": names, "target": {"0": "malignant", "1": "benign"},
             "source": "UCI ML repository via scikit-learn, shipped in pipeward.datasets"}, indent=2))
        manifest = Manifest.build(data_dir, metadata={"dataset": DATASET})
        manifest.sign(private_pem)
        manifest.save(out / "manifest.json")
        total_bytes = sum(e.size for e in manifest.entries)
        audit.record_manifest(log, manifest_root=manifest.root, n_files=len(manifest),
                              total_bytes=total_bytes, dataset=DATASET)
        # The ingestion PII scan (data.pii_scan): measurements only, so it finds none.
        protect.scan(dict(zip(names, poisoned.X.T)), audit=log, dataset=DATASET)
        loaded = Manifest.load(out / "manifest.json")
        signature_ok = loaded.verify_signature(public_pem)

        original = (data_dir / "train.csv").read_bytes()
        lines = original.split(b"\n")
        row = 1 + int(rng.integers(len(lines) - 2))
        lines[row] = lines[row][:-1] + (b"0" if lines[row].endswith(b"1") else b"1")  # flip a label
        (data_dir / "train.csv").write_bytes(b"\n".join(lines))
        tampered = loaded.verify(data_dir)
        audit.record_manifest(log, manifest_root=loaded.root, n_files=len(loaded), event="verified",
                              ok=tampered.ok, added=list(tampered.added),
                              removed=list(tampered.removed), modified=list(tampered.modified),
                              dataset=DATASET)
        (data_dir / "train.csv").write_bytes(original)
        restored = loaded.verify(data_dir)
        audit.record_manifest(log, manifest_root=loaded.root, n_files=len(loaded), event="verified",
                              ok=restored.ok, dataset=DATASET)
        found = list(tampered.modified)
        steps.check("integrity", "signature verified", bool(signature_ok))
        steps.check("integrity", "tampering named", found == ["train.csv"] and not tampered.added and not tampered.removed)
        steps.check("integrity", "restored data verified", bool(restored.ok))
        result.numbers.update(manifest_root=manifest.root, manifest_files=len(manifest),
                              tampered_found=found)
        report["integrity"] = {
            "files": len(manifest), "bytes": total_bytes, "root": manifest.root,
            "signature": "valid" if signature_ok else "invalid",
            "entries": [{"path": e.path, "size": e.size, "sha256": e.digest} for e in manifest.entries],
            "tamper": {"ok": tampered.ok, "modified": found, "added": list(tampered.added),
                       "removed": list(tampered.removed), "tampered": ["train.csv"]},
        }
        steps.say("integrity", f"{len(manifest)} files, Merkle root {manifest.root[:12]}..., Ed25519 "
                  f"signature {'valid' if signature_ok else 'INVALID'} (DEMO key {private_key_path}, mode "
                  f"0600: for this demo only); a label changed in train.csv -> verification "
                  f"names: {', '.join(found) or 'nothing'}; restored and verified")

        # Everything downstream reads the verified files, not the arrays in memory.
        X_train, y_train = _read_csv(data_dir / "train.csv")
        X_test, y_test = _read_csv(data_dir / "test.csv")

        # -- 2. poisoning screen ------------------------------------------------------------
        screened = screen(screen_features(X_train), y_train, method=s.screen_method,
                           random_state=s.seed)
        quarantined = np.asarray(screened.quarantine, dtype=np.int64)
        truth = poisoned.truth
        precision, recall = _precision_recall(quarantined, truth)
        audit.record_screen(log, n_samples=len(y_train), n_outliers=len(screened.outliers),
                            n_label_suspects=len(screened.label_suspects),
                            quarantined=quarantined.tolist(), method=f"pipeward.screen ({s.screen_method})",
                            dataset=DATASET)
        steps.check("screen", "poison recall >= 0.9", recall >= 0.9)
        steps.check("screen", "poison precision >= 0.8", precision >= 0.8)
        result.numbers.update(poison_injected=int(truth.size), quarantined=int(quarantined.size),
                              poison_precision=precision, poison_recall=recall,
                              backdoor_recall=_precision_recall(quarantined, poisoned.backdoor)[1],
                              flip_recall=_precision_recall(quarantined, poisoned.flipped)[1],
                              screen_counts=dict(screened.counts), base_rows=int(base.size),
                              natural_outliers=int(len(y_all) - base.size))
        distances = np.asarray(screened.distances, dtype=np.float64)
        # Planted vs found, per kind: a planted row counts as found by the evidence that flagged it.
        per_kind = {
            "flipped labels": _planted_found(poisoned.flipped, screened.label_suspects, quarantined),
            "backdoor rows": _planted_found(poisoned.backdoor, screened.backdoor_suspects, quarantined),
        }
        per_kind["backdoor rows"]["trigger features"] = [
            names[j] if isinstance(j, (int, np.integer)) else str(j)
            for t in screened.triggers for j in t["features"]]
        result.numbers.update(poison_per_kind=per_kind)
        report["screen"] = {
            "scores": distances, "injected": truth, "quarantined": quarantined,
            # outliers are exactly the rows past the smallest flagged distance (BH is monotone)
            "cutoff": float(distances[screened.outliers].min()) if len(screened.outliers) else None,
            "precision": precision, "recall": recall, "n_outliers": len(screened.outliers),
            "n_label_suspects": len(screened.label_suspects),
            "n_backdoor_suspects": len(screened.backdoor_suspects),
            "per_kind": per_kind,
            "score_label": "squared robust Mahalanobis distance to the nearest class",
        }
        flips, doors = per_kind["flipped labels"], per_kind["backdoor rows"]
        steps.say("screen", f"planted {flips['planted']} flipped labels (found {flips['found']} as "
                  f"label suspects) and {doors['planted']} backdoor rows (found {doors['found']}, "
                  f"trigger {', '.join(doors['trigger features']) or 'not named'}); quarantined "
                  f"{quarantined.size}: precision {precision:.2f}, recall {recall:.2f} (base data: "
                  f"the {base.size} of {len(y_all)} rows that pass the screen before poisoning)")

        keep = np.setdiff1d(np.arange(len(y_train)), quarantined)
        # The model's scale comes from the screened rows only.
        mu, sd = X_train[keep].mean(axis=0), X_train[keep].std(axis=0)
        sd[sd == 0] = 1.0
        S_train = np.ascontiguousarray((X_train[keep] - mu) / sd)
        y_fit = y_train[keep]
        S_test = np.ascontiguousarray((X_test - mu) / sd)

        # -- 3. private training ------------------------------------------------------------
        n_fit = S_train.shape[0]
        sigma = noise_multiplier_for(s.target_epsilon, s.delta, s.sample_rate, s.steps)
        accountant = RDPAccountant()
        curve_at = sorted(set(np.linspace(0, s.steps, 41).round().astype(int).tolist()) - {0})
        curve: list[float] = []

        def on_step(t: int) -> None:
            accountant.step(noise_multiplier=sigma, sample_rate=s.sample_rate)
            if t in curve_at:
                curve.append(accountant.get_epsilon(s.delta))

        batches = poisson_batches(n_fit, s.sample_rate, steps=s.steps, seed=rng)
        run = fit_dp_sgd(S_train, y_fit, batches, clip_and_noise=clip_and_noise,
                         noise_multiplier=sigma, max_grad_norm=s.max_grad_norm,
                         expected_batch_size=max(1, round(n_fit * s.sample_rate)), lr=s.lr,
                         seed=int(rng.integers(2**32)), on_step=on_step)
        eps = accountant.get_epsilon(s.delta)
        baseline = fit_plain(S_train, y_fit)
        acc_dp, acc_base = run.model.accuracy(S_test, y_test), baseline.accuracy(S_test, y_test)
        audit.record_dp_training(log, noise_multiplier=sigma, sample_rate=s.sample_rate,
                                 steps=s.steps, epsilon=eps, delta=s.delta,
                                 max_grad_norm=s.max_grad_norm, accountant="rdp",
                                 dataset=DATASET, model=MODEL)
        audit.record_evaluation(log, metric="accuracy", value=acc_dp, dataset=DATASET,
                                split="test", model=MODEL)
        audit.record_evaluation(log, metric="accuracy (non-private baseline)", value=acc_base,
                                dataset=DATASET, split="test", model=MODEL)
        steps.check("training", "DP accuracy within 0.06 of the baseline", acc_dp >= acc_base - 0.06)
        steps.check("training", "epsilon within the target", eps <= s.target_epsilon + 1e-9)
        result.numbers.update(accuracy_dp=acc_dp, accuracy_baseline=acc_base, epsilon=eps,
                              delta=s.delta, noise_multiplier=sigma, steps=s.steps,
                              sample_rate=s.sample_rate, rows_trained=n_fit)
        report["privacy"] = {
            "steps": [0, *curve_at], "epsilon": [0.0, *curve], "delta": s.delta, "accuracy": acc_dp,
            "baseline_accuracy": acc_base, "epsilon_final": eps, "noise_multiplier": sigma,
            "max_grad_norm": s.max_grad_norm, "sample_rate": s.sample_rate, "steps_total": s.steps,
            "model": "logistic regression (NumPy), DP-SGD through pw.clip_and_noise",
        }
        # The trained model is written out and the step attested: data manifest -> model.
        model_dir = out / "model"
        model_dir.mkdir(exist_ok=True)
        np.savez(model_dir / "model.npz", params=run.model.params, mean=mu, scale=sd)
        train_params = {"noise_multiplier": sigma, "max_grad_norm": s.max_grad_norm,
                        "sample_rate": s.sample_rate, "steps": s.steps, "lr": s.lr,
                        "quarantined_rows": int(quarantined.size)}
        lineage.attest("train (DP-SGD)", {"data": manifest}, {"model": Manifest.build(model_dir)},
                       train_params, private_pem, path=out / "train.att.json", audit=log)
        steps.say("training", f"DP-SGD test accuracy {acc_dp:.3f} (non-private {acc_base:.3f}) "
                  f"at epsilon {eps:.2f}, delta {s.delta:g} (sigma {sigma:.2f}, C {s.max_grad_norm:g}, "
                  f"{s.steps} steps, q {s.sample_rate:g}) on {n_fit} screened rows")

        # -- 4. inference monitoring --------------------------------------------------------
        # A window of ~150 rows leaves ~15 rows per decile, and PSI's sampling noise alone
        # then reaches 0.2; quintiles halve that noise. 0.25 is the customary "major shift".
        monitor = DriftMonitor(X_train[keep], feature_names=names, bins=s.psi_bins,
                               psi_threshold=s.psi_threshold)
        held_out = monitor.check(X_test)
        shifted_X = attacks.shift_features(X_test, names, {f: (a, b) for f, a, b in s.shift},
                                           X_train[keep].std(axis=0))
        shifted = monitor.check(shifted_X)
        expected = sorted(f for f, _, _ in s.shift)
        for name, rep in (("held-out split", held_out), ("shifted split", shifted)):
            audit.record_drift_check(
                log, verdicts=dict(zip(rep.feature_names, map(bool, rep.drifted))),
                statistics=dict(zip(rep.feature_names, map(float, rep.psi))),
                ks_statistics=dict(zip(rep.feature_names, map(float, rep.ks_statistic))), test="ks+psi",
                alpha=rep.alpha, dataset=f"{DATASET}:{name}", model=MODEL)
        steps.check("monitoring", "no drift on the held-out split", not held_out.any_drift)
        steps.check("monitoring", "drift named on the shifted split", sorted(shifted.drifted_features) == expected)
        result.numbers.update(drift_held_out=held_out.drifted_features,
                              drift_shifted=shifted.drifted_features)
        report["drift"] = [drift_section(rep.to_dict(), name) for name, rep in
                           (("held-out split", held_out), ("shifted split", shifted))]

        detector = MahalanobisDetector(method=s.guard_method, alpha=s.guard_alpha, random_state=s.seed)
        guard = InputGuard(detector.fit(S_train), alpha=s.guard_alpha)
        gen = np.random.default_rng(s.seed + 1)
        corrupted = (attacks.corrupt_units(X_test, n_features=2, factor=10.0, rng=gen) - mu) / sd
        fgsm = attacks.fgsm(S_test, run.model.input_gradient_sign(S_test, y_test), s.fgsm_epsilon)
        deepfool = attacks.deepfool_linear(S_test, run.model.weights, float(run.model.params[-1]))
        clean_pred = run.model.predict(S_test)
        flipped = {"fgsm": float(np.mean(run.model.predict(fgsm) != clean_pred)),
                   "deepfool": float(np.mean(run.model.predict(deepfool) != clean_pred))}
        batches_in = {"held-out": S_test, "corrupted (x10 units)": np.ascontiguousarray(corrupted),
                      f"adversarial (FGSM {s.fgsm_epsilon:g} sd)": np.ascontiguousarray(fgsm),
                      "adversarial (DeepFool, minimal L2)": np.ascontiguousarray(deepfool)}
        checked = {k: guard.check(v) for k, v in batches_in.items()}
        rates = {k: float(np.mean(g.flags)) for k, g in checked.items()}
        log.append("monitor.input_guard", {"model": MODEL, "method": f"mahalanobis ({s.guard_method}), conformal",
                                           "alpha": s.guard_alpha, "flag_rates": rates,
                                           "prediction_flips": flipped}, subject=MODEL)
        r_held, r_corr, r_fgsm, r_deep = rates.values()
        steps.check("monitoring", "guard quiet on held-out (<= 10%)", r_held <= 0.10)
        steps.check("monitoring", "guard flags corrupted (>= 90%)", r_corr >= 0.90)
        result.numbers.update(guard_rates=rates, adversarial_prediction_flips=flipped)
        report["guard"] = {
            "rows": [{"name": k, "n": int(g.flags.size), "flagged": g.n_flagged} for k, g in checked.items()],
            "scores": {k: g.distances for k, g in checked.items()},
            "cutoff": float(detector.threshold_),
            "cutoff_note": f" (conformal, false-positive rate {s.guard_alpha:g})",
        }
        steps.say("monitoring", f"held-out split: {_drift_words(held_out)}; shifted split: "
                  f"{_drift_words(shifted)}; input guard flags {r_held:.0%} of held-out, "
                  f"{r_corr:.0%} of corrupted inputs, {r_fgsm:.0%} of FGSM and {r_deep:.0%} of "
                  f"DeepFool adversarial inputs (which flip {flipped['fgsm']:.0%} and "
                  f"{flipped['deepfool']:.0%} of predictions)")

        # -- 5. serving ---------------------------------------------------------------------
        if serving:
            from .serving import serve_step  # noqa: PLC0415 - needs pipeward[serve]

            served = serve_step(lambda A: run.model.predict((np.asarray(A) - mu) / sd),
                                X_train[keep], X_test, names, log, rng)
            steps.check("serve", "requests served, limited and rejected",
                        served["served"] > 0 and served["limited"] > 0 and served["rejected"] > 0)
            steps.check("serve", "watermark found in the stolen copy (p < 1e-6)",
                        served["watermark_copy_pvalue"] < 1e-6)
            steps.check("serve", "no watermark in the model itself (p > 0.01)",
                        served["watermark_model_pvalue"] > 0.01)
            result.numbers["serve"] = served
            steps.say("serve", f"{served['served']} requests served, {served['limited']} rate-"
                      f"limited, {served['rejected']} rejected, {served['flagged']} flagged; a copy "
                      f"trained on {served['stolen_queries']} stolen "
                      f"answers carries the watermark (p = {served['watermark_copy_pvalue']:.1e}), "
                      f"the model itself does not (p = {served['watermark_model_pvalue']:.2f})")

        # -- 6. red team -------------------------------------------------------------------
        attacked = redteam_step(run.model, baseline, S_train, y_fit, S_test, y_test, log, MODEL, s.seed)
        robust = attacked["robust_accuracy"]
        steps.check("redteam", "PGD lowers accuracy as its budget grows",
                    bool(np.all(np.diff([attacked["clean_accuracy"], *robust]) <= 0)) and robust[-1] < attacked["clean_accuracy"])
        steps.check("redteam", f"membership AUC of the DP model <= {MAX_MEMBERSHIP_AUC}",
                    attacked["membership_auc"] <= MAX_MEMBERSHIP_AUC)
        result.numbers["redteam"] = attacked
        stolen = (f"; a surrogate trained on {attacked['extraction_queries']} answered queries agrees with "
                  f"the model on {attacked['extraction_fidelity']:.0%} of held-out rows"
                  if "extraction_fidelity" in attacked else "")
        steps.say("redteam", f"PGD (L-inf, sd) robust accuracy "
                  + ", ".join(f"{a:.2f} at eps {e:g}" for e, a in zip(attacked["eps"], robust))
                  + f" (clean {attacked['clean_accuracy']:.2f}); membership AUC {attacked['membership_auc']:.3f} "
                  f"(non-private baseline {attacked['membership_auc_non_private']:.3f}){stolen}")

        # -- 7. accountability --------------------------------------------------------------
        profile = load_profile(s.compliance_profile)
        limits = next(q.params["limits"] for q in profile.requirements if q.check == "fairness_within")
        accountable = run_accountability(log, run.model, S_train, y_fit, S_test, y_test, names,
                                         seed=s.seed, limits=limits, model_name=MODEL, dataset=DATASET)
        fair, expl = accountable.fairness, accountable.explanation
        top = list(expl.global_importance())[:3]
        steps.check("accountability", "fairness gaps within the profile's limits", all(fair.within(limits).values()))
        steps.check("accountability", "explanations add up to the model's log-odds",
                    bool(np.allclose(expl.output_values, run.model.decision(S_test), atol=1e-9)))
        result.numbers.update(accountability=describe(accountable))
        steps.say("accountability", f"synthetic groups A/B (documented, random): demographic parity "
                  f"difference {fair.demographic_parity_difference:.3f}, equalized odds difference "
                  f"{fair.equalized_odds_difference:.3f} (limits {', '.join(f'{v:g}' for v in limits.values())}); "
                  f"{expl.method} Shapley values (exact), top features {', '.join(top)}; spurious features: "
                  f"{', '.join(accountable.spurious.suspects) or 'none'}")

        # -- 8. governance ------------------------------------------------------------------
        trust = TrustStore()
        trust.add("pipeward demo", public_pem, roles=["data-provider", "pipeline"])
        record_signature_check(log, loaded, loaded.verify_signature(trust, role="data-provider"),
                               dataset=DATASET)
        log.checkpoint(private_pem)
        compliance = check_compliance(log, profile, model=MODEL, public_key=public_pem)
        record_compliance(log, compliance, model=MODEL)
        log.checkpoint(private_pem)  # the compliance record is covered too
        counts = compliance.counts()
        steps.check("governance", f"no {profile.name.upper()} requirement failed", compliance.ok)
        result.numbers.update(compliance=counts)
        audit_check = log.verify(public_pem)
        card = ModelCard.from_audit(log, MODEL, public_key=public_pem)
        card_path = out / "model_card.md"
        card_path.write_text(card.to_markdown(), encoding="utf-8")
        lineage_check = lineage.verify(model_dir, [out / "train.att.json"], trust, role="pipeline")
        report["lineage"] = lineage_check.to_dict()
        steps.check("governance", "audit log verified", bool(audit_check.ok))
        steps.check("governance", "lineage from the model to signed data", bool(lineage_check.ok))
        result.numbers.update(audit_records=audit_check.n_records, audit_ok=bool(audit_check.ok))
        report.update(accountability_sections(list(log.records())))
        report["audit"] = audit_section(log, public_pem) | {"path": audit_path.name}
        report["model_card"] = {"path": card_path.name, "text": card_path.read_text(encoding="utf-8")}
        chain = "verified" if audit_check.ok else "FAILED verification"
        steps.say("governance", f"audit log {chain}: {audit_check.n_records} hash-chained records, "
                  f"{audit_check.checkpoints_verified}/{audit_check.checkpoints_total} signed checkpoints "
                  f"verified; lineage model <- {' <- '.join(st.step for st in lineage_check.chain)} "
                  f"<- signed data {'verified' if lineage_check.ok else 'BROKEN'}; {profile.name.upper()} profile: "
                  f"{counts['pass']} pass, {counts['fail']} fail, {counts['not recorded']} not recorded; "
                  f"model card -> {card_path}")
    finally:
        log.close()

    # -- 9. report ----------------------------------------------------------------------------
    report["checks"] = steps.cards()
    report_path = write_report(report, out / "report.html")
    result.report = report
    result.paths.update(out=str(out), report=str(report_path), audit=str(audit_path),
                        manifest=str(out / "manifest.json"), model_card=str(out / "model_card.md"),
                        data=str(data_dir), public_key=str(key_dir / "demo_ed25519.pem.pub"),
                        private_key=str(private_key_path),
                        results=str(out / "results.json"))
    elapsed = time.perf_counter() - steps.start
    result.numbers["seconds"] = elapsed
    verdict = "all checks passed" if result.ok else "FAILED: " + ", ".join(
        k for k, v in result.checks.items() if not v)
    steps.say("report", f"{report_path} ({elapsed:.1f} s; {verdict})")
    (out / "results.json").write_text(json.dumps(
        _jsonable({**result.to_dict(), "report": report}), indent=2))
    return result


def _serving_available() -> bool:
    """The serve step needs pipeward[serve]; the rest of the demo does not."""
    try:
        import fastapi  # noqa: F401, PLC0415
        import httpx  # noqa: F401, PLC0415
        import limits  # noqa: F401, PLC0415
        import prometheus_client  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _drift_words(rep: Any) -> str:
    if not rep.any_drift:
        return f"no drift in {len(rep.feature_names)} features"
    return "drift in " + ", ".join(rep.drifted_features)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value
