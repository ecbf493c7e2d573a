"""Progress for long work: a rich bar on a terminal, plain lines otherwise. Always on stderr,
so ``--json`` output on stdout stays one object."""

from __future__ import annotations

import sys
import time

from lamina.common.runtime import is_tty


class Progress:
    """Reports steps of a task. ``quiet`` silences it (API use, tests)."""

    def __init__(self, total: int, description: str, quiet: bool = False, stream=None):
        self.total = total
        self.description = description
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.done = 0
        self._bar = None
        self._task = None
        self._last_line = 0.0
        if not quiet and is_tty(self.stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(description, total=total, info="")

    def update(self, advance: int = 1, **info) -> None:
        """Advance by ``advance`` steps and show ``info`` (e.g. loss=0.31)."""
        self.done += advance
        if self.quiet:
            return
        text = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, info=text)
        elif time.monotonic() - self._last_line >= 5 or self.done >= self.total:
            self._last_line = time.monotonic()
            print(f"{self.description} {self.done}/{self.total}  {text}", file=self.stream, flush=True)

    def log(self, message: str) -> None:
        """A line of its own (epoch summaries, warnings)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class Reporter:
    """Messages for the person running a command, on stderr: from the main process (rank 0) only, and none when
    ``quiet``. The one place a training session decides whether to speak."""

    def __init__(self, quiet: bool = False, main: bool = True):
        self.quiet = quiet or not main

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        self.say(f"warning: {message}")
