"""Several `pipeward serve` workers append to one audit log: each process runs its own
AuditWriter on its own connection to the same SQLite file. The chain must stay valid and no
record may be lost, from the log's creation on."""

from __future__ import annotations

import subprocess
import sys

from pipeward.audit import AuditLog
from pipeward.cli import main

# One worker process: reports "ready", waits for "go" on stdin (so that every process opens
# the not-yet-existing log and appends at the same moment), then queues its records as the
# service does (spread over >= 150 ms) and closes the writer, which commits them in batches.
WORKER = """
import sys
import time
from pipeward.audit import AuditLog
from pipeward.serve.audit_writer import AuditWriter

path, tag, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
writer = AuditWriter(AuditLog(path), batch=16, flush_ms=1)
for i in range(n):
    writer.put_blocking(f"worker-{tag}", {"worker": tag, "i": i}, "pipeward-serve")
    if i % 10 == 9:
        time.sleep(0.005)  # requests arrive over time: the workers' batches interleave
writer.close(timeout=120)
print(writer.written, writer.failed, flush=True)
"""


def test_worker_processes_append_to_one_log_without_loss_or_a_broken_chain(tmp_path, capsys):
    path, workers, n = tmp_path / "audit.db", 4, 300
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(k), str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k in range(workers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    assert not path.exists()  # every worker will race to create it
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0
        assert out.split() == [str(n), "0"]  # all written, none failed
    assert main(["audit", "verify", str(path)]) == 0, capsys.readouterr().err
    with AuditLog(path, readonly=True) as log:
        records = list(log.records())
        assert len(log) == workers * n == len(records)
        assert [r.seq for r in records] == list(range(workers * n))
        seen = sorted((r.payload["worker"], r.payload["i"]) for r in records)
        assert seen == [(k, i) for k in range(workers) for i in range(n)]  # each exactly once
        for k in range(workers):  # one worker's records keep their order
            mine = [r.payload["i"] for r in records if r.payload["worker"] == k]
            assert mine == list(range(n))
        # The batches interleaved: the test exercised concurrent appends, not a queue of them.
        changes = sum(a.payload["worker"] != b.payload["worker"]
                      for a, b in zip(records, records[1:]))
        assert changes >= workers, changes
