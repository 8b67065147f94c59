"""A real `python -m bugcases run`, sent a real signal once it is training: the SIGINT, SIGKILL and
SIGTERM tests share this."""

from __future__ import annotations

import signal
import subprocess
import sys

# Seconds the child may take to exit after the signal. It exits at once and the interpreter's
# shutdown (torch's) takes 0.6 s on an idle machine and 7-8 s beside four CPU-bound processes.
# A hang still fails, only later.
EXIT_TIMEOUT = 300


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default. A job started in the background by a
    non-interactive shell (`cmd &`, as CI scripts and nohup'd runs do) inherits SIGINT *ignored*, and
    Python installs its KeyboardInterrupt handler only over the default: the child would then train
    through the signal (a CI run of the SIGINT test failed so). A user's Ctrl-C reaches a process
    that has the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_while_training(tmp_path, case_id: str, sig) -> tuple:
    """Start a 500-epoch run writing tmp_path/result.json (which holds an older result), wait for
    its `epoch 2/` line (evidence, not a guess: a whole epoch is done), send `sig`; returns
    (exit status, stderr, the result path)."""
    out = tmp_path / "result.json"
    out.write_text('{"previous": true}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "bugcases", "run", case_id, "--epochs", "500", "--progress", "--output", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        started = proc.stdout.readline()
        assert "training" in started, started
        assert any(line.startswith("epoch 2/") for line in proc.stdout), "the run ended before its second epoch"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
    finally:
        proc.kill()
    return proc.returncode, err, out
