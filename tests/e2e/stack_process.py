"""`downbeat local` in a process of its own, with everything it prints on stdout and stderr kept.

    with StackProcess(environment, tmp_path) as stack:
        ...  # drive stack.url
    stack.captured()  # {"stack stdout": …, "stack stderr": …}, complete once the block has exited

A process of its own sees what a developer's terminal sees: the ready line, the `downbeat.local`
log, every function's Powertools JSON lines and metrics, and whatever a library prints — with no
pytest capture in between. `module` runs another entry point with the same arguments (a test's
wrapper around `local.cli`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Self

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"downbeat local ready: api=(http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECONDS = 90  # a loaded CI machine, not the stack, decides how long a start takes
STOP_TIMEOUT_SECONDS = 90


def clean_environment(home: Path, **variables: str) -> dict[str, str]:
    """No AWS credentials, profile or provider variables of the developer's: only `variables`."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "AWS_DEFAULT_REGION": "us-east-1",
        **variables,
    }


class StackProcess:
    def __init__(
        self,
        environment: Mapping[str, str],
        directory: Path,
        *,
        module: str = "local.cli",
        arguments: Sequence[str] = ("--port", "0", "--no-schedules"),
    ) -> None:
        self._command = [sys.executable, "-m", module, "local", *arguments]
        self._environment = dict(environment)
        self._directory = directory
        self._stderr_path = directory / "stack-stderr.log"
        self._stdout: list[str] = []
        self._first_line = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.url = ""
        self.returncode: int | None = None  # set by stop()

    def __enter__(self) -> Self:
        with self._stderr_path.open("w", encoding="utf-8") as stderr:  # a file: it can never fill up and block
            self._process = subprocess.Popen(
                self._command,
                cwd=self._directory,
                env=self._environment,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
            )
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True)
        self._reader.start()
        self._first_line.wait(START_TIMEOUT_SECONDS)
        match = READY.fullmatch(self._stdout[0].rstrip("\n")) if self._stdout else None
        if match is None:
            self.stop()
            raise AssertionError(f"downbeat local did not get ready: {self._stdout[:1]}\n{self._stderr()[-2000:]}")
        self.url = match.group(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:  # drained all along, so a chatty stack never blocks on a full pipe
            self._stdout.append(line)
            self._first_line.set()
        self._first_line.set()  # end of output: the process has gone

    def _stderr(self) -> str:
        return self._stderr_path.read_text(encoding="utf-8")

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C in a terminal would; the stack must stop cleanly (exit 0)."""
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_SECONDS)
        self.returncode = process.returncode

    def captured(self) -> dict[str, str]:
        """Everything the stack printed, by stream."""
        return {"stack stdout": "".join(self._stdout), "stack stderr": self._stderr()}
