"""Process supervision: the child processes of ``serve``.

A child runs ``credit-ledger ARGV`` in a fresh interpreter, started again whenever it exits until it
is stopped. It ends with the process that started it however that one ends, a kill -9 included:
first thing, the child calls ``ledger.adapters.workers.watch_parent`` on its starter's process id, the
same watch the ledger's and the projections' worker pools run in their workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence



class Supervised:
    """``credit-ledger ARGV`` as a child process, started again (after a second) whenever it exits."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], name: str) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.name = name
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def command(self) -> list[str]:
        """The child's command line: this interpreter, watching this process, running the CLI."""
        return [sys.executable, "-c", "import sys; from api.cli.supervise import run_child; "
                f"sys.exit(run_child({os.getpid()}, {self.argv!r}))"]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(self.command(), env=self.env)
            code = self._proc.wait()
            if not self._stop.is_set():
                print(f"the {self.name} process exited ({code}); starting it again", file=sys.stderr)
                self._stop.wait(1.0)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop restarting it; end the child (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._thread.join(5)


def projector() -> Supervised:
    """The one ``credit-ledger project`` process that keeps the views for all of ``serve``'s workers."""
    env = dict(os.environ, CREDIT_LEDGER_RUN_PROJECTIONS="true")
    env.setdefault("CREDIT_LEDGER_POOL_SIZE", "4")  # one projection thread needs no more
    return Supervised(["project", "--quiet"], env, "projection")


def run_child(parent: int, argv: Sequence[str]) -> int:
    """In a supervised child: end when process ``parent`` does; run ``credit-ledger ARGV``."""
    from api.cli import main
    from ledger.adapters.workers import watch_parent

    watch_parent(parent)
    return main(argv)
