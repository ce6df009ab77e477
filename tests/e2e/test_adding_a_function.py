"""docs/adding-a-function.md, carried out: its steps add a function to a copy of the repository,
which must then lint, pass the template tests (a real `sam build` included), invoke and trigger.

The page marks each step with an HTML comment on the line before its code block:

    <!-- step: run -->                       a sh block: each line is one command, run from the
                                             copy's root; each must exit 0
    <!-- step: output -->                    a JSON block: what the last command of the run block
                                             before it prints (retried for a while: the stack's
                                             router and queues work asynchronously)
    <!-- step: create PATH -->               the block is the new file PATH
    <!-- step: insert PATH above "LINE" -->  the block goes above the first line LINE of PATH, with
                                             as many blank lines after it as there were above LINE
    <!-- step: insert PATH below "LINE" -->  the block goes right below that line
    <!-- step: stack -->                     a one-line sh block: `downbeat local`, started in the
                                             background with `--port 0`; the commands after it get
                                             its URL as DOWNBEAT_API_URL; stopped at the end

The copy holds the repository's files (`git ls-files`, untracked ones included) with a `.venv`
link to this interpreter's environment; PYTHONPATH makes the copy's packages the ones imported
(the editable install points at the original). Until the stack step, DOWNBEAT_API_URL points at
the discard port, so `downbeat invoke` never meets a stack someone else runs on 8787.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "adding-a-function.md"
STEP = re.compile(
    r"<!-- step: (?P<step>[^\n]*?) -->\n```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\n", flags=re.DOTALL | re.MULTILINE
)
INSERT = re.compile(r'(?P<path>\S+) (?P<where>above|below) "(?P<line>[^"]+)"')
NOBODY_LISTENS = "http://127.0.0.1:9"
COMMAND_TIMEOUT = 300
OUTPUT_DEADLINE = 30.0


@dataclass(frozen=True)
class Step:
    kind: str  # run, output, create, insert, stack
    argument: str  # what follows the kind in the marker
    lang: str
    body: str


def doc_steps(text: str) -> list[Step]:
    steps = []
    for match in STEP.finditer(text):
        kind, _, argument = match["step"].partition(" ")
        steps.append(Step(kind, argument, match["lang"], match["body"]))
    return steps


def copy_repository(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            # copy2 keeps mtimes: pyproject.toml stays older than .venv's stamp, so no make
            # target in the copy would reinstall into the linked environment.
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def insert(path: Path, where: str, anchor: str, block: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next((i for i, line in enumerate(lines) if line.rstrip("\n") == anchor), None)
    assert index is not None, f"{path.name} has no line {anchor!r} for the doc's step to insert at"
    new = block.splitlines(keepends=True)
    if where == "above":
        blank = 0
        while blank < index and not lines[index - 1 - blank].strip():
            blank += 1
        lines[index:index] = [*new, *["\n"] * blank]
    else:
        lines[index + 1 : index + 1] = new
    path.write_text("".join(lines), encoding="utf-8")


class Runner:
    """Carries out the steps in the copy; remembers the last command's output and the stack."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("STRIPE_", "AWS_ENDPOINT", "DOWNBEAT_", "PYTEST_"))
        }
        self.env |= {"PYTHONPATH": str(root), "DOWNBEAT_API_URL": NOBODY_LISTENS}
        # The copy's own pytest keeps its temporary directories beside the copy.
        self.env["PYTEST_DEBUG_TEMPROOT"] = str(log.parent)
        self.last_command: str | None = None
        self.last_output = ""
        self.stack: subprocess.Popen[str] | None = None
        self.timings: list[tuple[str, float]] = []

    def command(self, line: str) -> str:
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", line],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        self.timings.append((line, time.monotonic() - started))
        output = result.stdout[-4000:] + result.stderr[-4000:]
        assert result.returncode == 0, f"`{line}` exited {result.returncode}:\n{output}"
        return result.stdout

    def run(self, step: Step) -> None:
        for line in step.body.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                self.last_command, self.last_output = line, self.command(line)

    def output(self, step: Step) -> None:
        assert self.last_command is not None, "an output step with no command before it"
        expected = json.loads(step.body)
        deadline = time.monotonic() + OUTPUT_DEADLINE
        while json.loads(self.last_output) != expected:
            assert time.monotonic() < deadline, (
                f"`{self.last_command}` printed {self.last_output.strip()}, the doc says {json.dumps(expected)}"
            )
            time.sleep(0.2)
            self.last_output = self.command(self.last_command)

    def create(self, step: Step) -> None:
        path = self.root / step.argument
        assert not path.exists(), f"{step.argument} exists already: the doc's example must be a new function"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(step.body, encoding="utf-8")

    def insert(self, step: Step) -> None:
        match = INSERT.fullmatch(step.argument)
        assert match, f"unreadable insert step: {step.argument!r}"
        insert(self.root / match["path"], match["where"], match["line"], step.body)

    def start_stack(self, step: Step) -> None:
        (line,) = [line for line in step.body.splitlines() if line.strip()]
        assert self.stack is None, "two stack steps"
        with self.log.open("w") as stderr:
            self.stack = subprocess.Popen(
                [*shlex.split(line), "--port", "0"],
                cwd=self.root,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert self.stack.stdout is not None
        ready = self.stack.stdout.readline()  # blocks until the stack is ready (or dies)
        match = re.fullmatch(r"downbeat local ready: api=(http://127\.0\.0\.1:\d+)\n", ready)
        assert match, (ready, self.log.read_text()[-3000:])
        self.env["DOWNBEAT_API_URL"] = match[1]

    def stop_stack(self) -> None:
        if self.stack is None:
            return
        self.stack.send_signal(signal.SIGTERM)
        try:
            self.stack.communicate(timeout=90)
        finally:
            if self.stack.poll() is None:
                self.stack.kill()
                self.stack.wait()


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    root = tmp_path / "repo"
    copy_repository(root)
    runner = Runner(root, tmp_path / "stack-stderr.log")
    try:
        yield runner
    finally:
        runner.stop_stack()


def test_the_doc_marks_every_kind_of_step() -> None:
    text = DOC.read_text(encoding="utf-8")
    kinds = [step.kind for step in doc_steps(text)]
    assert len(kinds) == text.count("<!-- step:"), "a step marker not right above its code block"
    # Markers lost in an edit would leave this test checking nothing.
    assert {"run", "output", "create", "insert", "stack"} <= set(kinds), kinds
    assert not set(kinds) - {"run", "output", "create", "insert", "stack"}, kinds


def test_the_steps_add_a_function_that_builds_invokes_and_triggers(runner: Runner) -> None:
    started = time.monotonic()
    for step in doc_steps(DOC.read_text(encoding="utf-8")):
        if step.kind == "stack":
            runner.start_stack(step)
        else:
            getattr(runner, step.kind)(step)
    runner.stop_stack()
    assert runner.stack is not None, "the doc never starts the local stack"
    assert runner.stack.returncode == 0, runner.log.read_text()[-3000:]
    timings = ", ".join(f"{line.split()[0].rsplit('/', 1)[-1]} {seconds:.1f}s" for line, seconds in runner.timings)
    print(f"adding a function: {time.monotonic() - started:.1f} s ({timings})")
