"""A real `python -m bugcases run`, sent a real signal once it is training: the SIGINT, SIGKILL and
SIGTERM tests share this."""

from __future__ import annotations

import subprocess
import sys

# Seconds the child may take to exit after the signal. It exits at once and the interpreter's
# shutdown (torch's) takes 0.6 s on an idle machine and 7-8 s beside four CPU-bound processes;
# a CI run beside a TrainCheck job once took over 60 s. A hang still fails, only later.
EXIT_TIMEOUT = 300


def signal_while_training(tmp_path, case_id: str, sig) -> tuple:
    """Start a 500-epoch run writing tmp_path/result.json (which holds an older result), wait for
    its `epoch 2/` line (evidence, not a guess: a whole epoch is done), send `sig`; returns
    (exit status, stderr, the result path)."""
    out = tmp_path / "result.json"
    out.write_text('{"previous": true}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "bugcases", "run", case_id, "--epochs", "500", "--progress", "--output", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = proc.stdout.readline()
        assert "training" in started, started
        for line in proc.stdout:
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
    finally:
        proc.kill()
    return proc.returncode, err, out
