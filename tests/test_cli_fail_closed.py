"""Every subcommand turns malformed input into exit 2 with one line on stderr, never a
traceback and never exit 0 or 1 (issue 20, item 13).

Each case is a subcommand with an input of one kind: missing, empty, truncated, of another
format, deeply nested, random binary. They run in this process through ``main([...])``
(fast); closed standard streams need a real process, so that subset runs as subprocesses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward.cli import EXIT_CHECK_FAILED, EXIT_USAGE, main

from test_cli import SUBCOMMANDS

KINDS = ("missing", "empty", "truncated", "wrong-format", "nested", "binary")
NESTED_JSON = "[" * 100_000 + "]" * 100_000


def _good_files(root: Path) -> dict[str, Path]:
    """One valid input of each type the CLI reads, to damage."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    files["npy"] = root / "good.npy"
    np.save(files["npy"], rng.normal(size=(300, 3)))
    files["npz"] = root / "good.npz"
    np.savez(files["npz"], X=rng.normal(size=(300, 3)))
    files["profile"] = root / "profile.npz"
    pw.DriftMonitor(rng.normal(size=(300, 3))).save(files["profile"])
    files["csv"] = root / "good.csv"
    files["csv"].write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(300)))
    data = root / "tree"
    data.mkdir()
    (data / "x.txt").write_text("x\n")
    files["tree"] = data
    files["manifest"] = root / "good.manifest.json"
    pw.Manifest.build(data).save(files["manifest"])
    files["db"] = root / "good.db"
    with pw.AuditLog(files["db"]) as log:
        for i in range(200):
            log.append("data.loaded", {"i": i, "pad": "z" * 200}, subject=f"s{i}")
        pw.audit.record_model(log, name="m", version="1", intended_use="tests")
    files["jsonl"] = root / "good.jsonl"
    with pw.AuditLog(files["db"], readonly=True) as log:
        log.export_jsonl(files["jsonl"])
    files["json"] = root / "drift.json"
    files["json"].write_text(json.dumps({"psi_threshold": 0.2, "features": [
        {"feature": "a", "psi": 0.1, "drifted": False}]}))
    files["key"] = root / "key.pem"
    pw.save_keypair(files["key"], root / "key.pub")
    files["pub"] = root / "key.pub"
    # Inputs of the protection, serving, red-team and compliance commands.
    files["identity"] = root / "identity.txt"
    recipient = pw.protect.generate_identity(files["identity"]).recipient
    files["age"] = root / "good.age"
    pw.protect.encrypt_file(files["csv"], files["age"], recipients=[recipient], work_factor=10)
    files["recipients"] = root / "recipients.txt"
    files["recipients"].write_text(f"{recipient}\n")
    files["store"] = root / "keys.json"
    pw.serve.KeyStore(files["store"], create=True).add("tester", "user")
    files["trust"] = root / "trust.json"
    store = pw.TrustStore()
    store.add("tester", files["pub"].read_bytes(), roles=["data-provider"])
    store.save(files["trust"])
    files["values"] = root / "values.txt"
    files["values"].write_text("3\n")
    files["dataset"] = root / "dataset"
    files["dataset"].mkdir()
    (files["dataset"] / "rows.csv").write_text(files["csv"].read_text())
    if importlib.util.find_spec("fastapi") and importlib.util.find_spec("skops"):
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        table = np.loadtxt(files["csv"], delimiter=",", skiprows=1)
        model = LogisticRegression(max_iter=200).fit(table[:, :1], table[:, 1].astype(int))
        files["package"] = root / "package"
        pw.serve.package(model, table[:, :1], files["package"],
                         private_key=files["key"].read_bytes())
    return files


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    return _good_files(tmp_path_factory.mktemp("good"))


def _damaged(good: dict[str, Path], kind: str, typ: str, where: Path) -> Path:
    """A file standing for a ``typ`` input, damaged as ``kind`` says (same suffix)."""
    src = good[typ]
    path = where / f"bad-{kind}{src.suffix if src.is_file() else ''}"
    raw = src.read_bytes() if src.is_file() else b""
    if kind == "missing":
        return path
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "wrong-format":
        other = good["csv"] if typ != "csv" else good["npy"]
        path.write_bytes(other.read_bytes())
    elif kind == "nested":
        path.write_text(NESTED_JSON)
    elif kind == "binary":
        path.write_bytes(np.random.default_rng(1).bytes(8192))
    return path


# Per subcommand and action: (the type of input it reads, args with {bad} for the damaged
# file and {good:TYPE} for valid companions).
CASES = {
    "hash": ("npy", ["hash", "{bad}"]),
    "manifest verify": ("manifest", ["manifest", "verify", "{bad}", "--dir", "{good:tree}"]),
    "manifest verify --pubkey": ("pub", ["manifest", "verify", "{good:manifest}", "--dir",
                                         "{good:tree}", "--pubkey", "{bad}"]),
    "manifest verify --cache": ("key", ["manifest", "verify", "{good:manifest}", "--dir",
                                        "{good:tree}", "--cache", "{bad}"]),
    "manifest build --sign": ("key", ["manifest", "build", "{good:tree}", "-o", "{out}/m.json",
                                      "--sign", "{bad}"]),
    "manifest build --cache": ("key", ["manifest", "build", "{good:tree}", "-o", "{out}/m.json",
                                       "--cache", "{bad}"]),
    "drift reference": ("npy", ["drift", "{bad}", "{good:npy}"]),
    "drift current": ("npy", ["drift", "{good:npy}", "{bad}"]),
    "drift npz": ("npz", ["drift", "{bad}", "{good:npy}"]),
    "drift profile": ("profile", ["drift", "{bad}", "{good:npy}"]),
    "drift csv": ("csv", ["drift", "{bad}", "{good:csv}"]),
    "screen npy": ("npy", ["screen", "{bad}"]),
    "screen npz": ("npz", ["screen", "{bad}"]),
    "screen csv": ("csv", ["screen", "{bad}", "--labels", "b"]),
    "audit verify": ("db", ["audit", "verify", "{bad}"]),
    "audit verify jsonl": ("jsonl", ["audit", "verify", "{bad}"]),
    "audit verify --pubkey": ("pub", ["audit", "verify", "{good:db}", "--pubkey", "{bad}"]),
    "audit show": ("db", ["audit", "show", "{bad}"]),
    "audit export": ("db", ["audit", "export", "{bad}", "-o", "{out}/e.jsonl"]),
    "audit import": ("jsonl", ["audit", "import", "{bad}", "-o", "{out}/i.db"]),
    "audit checkpoint": ("db", ["audit", "checkpoint", "{bad}", "--key", "{good:key}"]),
    "audit checkpoint --key": ("key", ["audit", "checkpoint", "{copy:db}", "--key", "{bad}"]),
    "card": ("db", ["card", "{bad}"]),
    "card --pubkey": ("pub", ["card", "{good:db}", "--pubkey", "{bad}"]),
    "report --results": ("json", ["report", "--results", "{bad}", "-o", "{out}/r.html"]),
    "report --drift": ("json", ["report", "--drift", "{bad}", "-o", "{out}/r.html"]),
    "report --screen": ("json", ["report", "--screen", "{bad}", "-o", "{out}/r.html"]),
    "report --manifest": ("manifest", ["report", "--manifest", "{bad}", "-o", "{out}/r.html"]),
    "report --audit": ("db", ["report", "--audit", "{bad}", "-o", "{out}/r.html"]),
    "report --pubkey": ("pub", ["report", "--manifest", "{good:manifest}", "--pubkey", "{bad}",
                                "-o", "{out}/r.html"]),
    "comply check": ("db", ["comply", "check", "{bad}"]),
    "comply check --profile": ("json", ["comply", "check", "{good:db}", "--profile", "{bad}"]),
    "comply check --pubkey": ("pub", ["comply", "check", "{good:db}", "--pubkey", "{bad}"]),
    "decrypt -i": ("identity", ["decrypt", "-i", "{bad}", "-o", "{out}/d.csv", "{good:age}"]),
    "decrypt": ("age", ["decrypt", "-i", "{good:identity}", "-o", "{out}/d.csv", "{bad}"]),
    "encrypt -R": ("recipients", ["encrypt", "-R", "{bad}", "-o", "{out}/e.age", "{good:csv}"]),
    "encrypt": ("csv", ["encrypt", "-R", "{good:recipients}", "-o", "{out}/e.age", "{bad}"]),
    "erase --values": ("values", ["erase", "{copy:dataset}", "--column", "a", "--values", "{bad}"]),
    "keys list": ("json", ["keys", "list", "--store", "{bad}"]),
    "keys add": ("json", ["keys", "add", "--store", "{bad}", "--name", "n", "--role", "user"]),
    "trust list": ("json", ["trust", "list", "{bad}"]),
    "trust add --key": ("pub", ["trust", "add", "{out}/t.json", "--name", "n", "--key", "{bad}"]),
    "package": ("npy", ["package", "{bad}", "--train", "{good:csv}", "--key", "{good:key}",
                        "-o", "{out}/pkg"]),
    "package --key": ("key", ["package", "{bad}", "--train", "{good:csv}", "--key", "{bad}",
                              "-o", "{out}/pkg"]),
    "redteam": ("npy", ["redteam", "{bad}", "--data", "{good:csv}", "--labels", "b"]),
    "serve --pubkey": ("pub", ["serve", "{good:package}", "--pubkey", "{bad}", "--keys",
                               "{good:store}"]),
}

# Inputs some kinds cannot damage in a way that is an error: a .csv cut in half is still a
# table, an empty --drift list of features is a report without drift, and so on.
NOT_AN_ERROR = {
    ("drift csv", "truncated"), ("screen csv", "truncated"), ("drift current", "nested"),
    ("drift reference", "nested"), ("screen npy", "nested"), ("hash", "empty"),
    ("hash", "truncated"), ("hash", "wrong-format"), ("hash", "nested"), ("hash", "binary"),
    # a cache that does not exist yet, or an empty file, may become the cache
    ("manifest verify --cache", "missing"), ("manifest verify --cache", "empty"),
    ("manifest build --cache", "missing"), ("manifest build --cache", "empty"),
    # any bytes are a plaintext to encrypt, any lines values to erase; a missing key store is
    # created by `keys add`
    *((("encrypt", k) for k in KINDS if k != "missing")),
    *((("erase --values", k) for k in ("truncated", "wrong-format", "nested", "binary"))),
    ("keys add", "missing"), ("keys add", "empty"),
}
# A truncated export is a verdict, not an input error: the log it describes fails verification
# (exit 1, one line saying why), and import refuses it for that reason.
VERDICTS = {("audit verify jsonl", "truncated"), ("audit import", "truncated"),
            ("decrypt", "truncated")}  # a cut age file fails authentication: tampering


def _args(template: list[str], bad: Path, good: dict[str, Path], out: Path) -> list[str]:
    args = []
    for a in template:
        if a.startswith("{good:"):
            a = str(good[a[6:-1]])
        elif a.startswith("{copy:"):
            src = good[a[6:-1]]
            copy = out / f"copy{src.suffix}"
            if src.is_dir():
                shutil.copytree(src, copy)
            else:
                copy.write_bytes(src.read_bytes())
            a = str(copy)
        args.append(a.replace("{bad}", str(bad)).replace("{out}", str(out)))
    return args


def _params():
    for name in CASES:
        for kind in KINDS:
            if (name, kind) not in NOT_AN_ERROR:
                yield pytest.param(name, kind, id=f"{name}-{kind}")


@pytest.mark.parametrize(("name", "kind"), list(_params()))
def test_malformed_input_is_exit_2_with_one_line(good, name, kind, tmp_path, capsys):
    typ, template = CASES[name]
    bad = _damaged(good, kind, typ, tmp_path)
    code = main(_args(template, bad, good, tmp_path))
    captured = capsys.readouterr()
    if (name, kind) in VERDICTS:
        assert code == EXIT_CHECK_FAILED, captured
        return
    err = captured.err
    assert code == EXIT_USAGE, err
    assert err.count("\n") == 1 and err.startswith("pipeward "), err
    assert "Traceback" not in err


def test_every_subcommand_is_swept():
    """A new subcommand must add its malformed-input cases here."""
    swept = {name.split()[0] for name in CASES} | {"privacy", "keygen", "demo", "info"}
    assert set(SUBCOMMANDS) <= swept


@pytest.mark.parametrize("args", [
    ["privacy", "epsilon", "--noise-multiplier", "nan", "--sample-rate", "0.01", "--steps", "10",
     "--delta", "1e-5"],
    ["privacy", "epsilon", "--noise-multiplier", "1", "--sample-rate", "2", "--steps", "10",
     "--delta", "1e-5"],
    ["privacy", "noise", "--target-epsilon", "inf", "--sample-rate", "0.01", "--steps", "10",
     "--delta", "1e-5"],
    ["privacy", "epsilon", "--noise-multiplier", "x", "--sample-rate", "0.01", "--steps", "10",
     "--delta", "1e-5"],
    ["drift", "{good:npy}", "{good:npy}", "--alpha", "nan"],
    ["drift", "{good:profile}", "{good:npy}", "--tests", "KS"],
    ["manifest", "verify", "{empty}", "--dir", "{good:tree}"],
    ["keygen", "-o", "{out}/no-such-dir/k.pem"],
    ["demo", "--out", "{good:npy}"],
    ["hash", "{good:tree}"],
    ["manifest", "build", "{out}/no-such-dir", "-o", "{out}/m.json"],
])
def test_malformed_options_are_exit_2_with_one_line(good, args, tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    args = [a.replace("{empty}", str(empty)) for a in _args(args, empty, good, tmp_path)]
    argparse_rejects = "x" in args  # a value of the wrong type: argparse exits by itself
    with pytest.raises(SystemExit) if argparse_rejects else contextlib.nullcontext() as raised:
        code = main(args)
    code = raised.value.code if raised else code
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "Traceback" not in err and err.strip(), err
    if not raised:  # argparse prints usage and its own line; ours is one line
        assert err.count("\n") == 1, err


# ---- closed and broken standard streams: real processes --------------------------------------

def _run(args: list[str], shell_redirect: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cmd = " ".join(["exec", sys.executable, "-m", "pipeward", *map(str, args)]) + " " + shell_redirect
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120,
                          check=False, cwd=tmp_path)


@pytest.mark.parametrize(("args", "redirect"), [
    (["hash", "-"], "<&-"),
    (["hash", "{good:npy}"], ">&-"),
    (["audit", "export", "{good:db}"], ">&-"),
    (["drift", "{good:npy}", "{good:npy}"], ">&-"),
    (["hash", "{good:npy}"], ">/dev/full"),
    (["audit", "export", "{good:db}"], ">/dev/full"),
], ids=["hash-stdin-closed", "hash-stdout-closed", "export-stdout-closed",
        "drift-stdout-closed", "hash-disk-full", "export-disk-full"])
def test_closed_streams_are_exit_2_with_one_line(good, args, redirect, tmp_path):
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    run = _run(_args(args, tmp_path, good, tmp_path), redirect, tmp_path)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert "closed" in run.stderr or "space" in run.stderr


def test_a_broken_pipe_is_exit_2_with_one_line(good, tmp_path):
    with subprocess.Popen([sys.executable, "-m", "pipeward", "audit", "export", str(good["db"])],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        proc.stdout.read(10)
        proc.stdout.close()  # the reader goes away, as `| head -c 10` does
        err = proc.stderr.read()
        assert proc.wait(60) == EXIT_USAGE, err
    assert err.count("\n") == 1 and "Broken pipe" in err and "Traceback" not in err


def _wait_until_it_opens(proc: subprocess.Popen, path: Path, timeout: float = 120.0) -> None:
    """Wait until ``proc`` holds ``path`` open (read from /proc/PID/fd), i.e. it is past its
    imports and waiting on the file; fail with its stderr if it exits first."""
    fds, target = Path(f"/proc/{proc.pid}/fd"), os.path.realpath(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before opening {path}: {proc.stderr.read()}")
        with contextlib.suppress(OSError):  # an fd may close between listing and reading it
            if any(os.readlink(fd) == target for fd in fds.iterdir()):
                return
        time.sleep(0.05)
    pytest.fail(f"did not open {path} within {timeout:.0f} s")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/PID/fd (Linux) to see the FIFO opened")
def test_hash_refuses_a_fifo_at_once_and_ctrl_c_stops_it_when_asked(tmp_path):
    """`pipeward hash FIFO` with no writer blocked in C++ and ignored Ctrl-C."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "pipeward", "hash", str(fifo)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == EXIT_USAGE and "--allow-special" in run.stderr
    assert run.stderr.count("\n") == 1
    # SIGINT may be ignored in the parent (a background job); the child must hear it.
    with subprocess.Popen([sys.executable, "-m", "pipeward", "hash", "--allow-special", str(fifo)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as proc:
        _wait_until_it_opens(proc, fifo)  # not a fixed sleep: under load the import alone took 3.5 s
        time.sleep(0.5)  # the main thread, which hears Ctrl-C, is in its wait loop by now
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in err and "terminate" not in err, err
