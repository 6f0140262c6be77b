"""Supervision: a child process that vardmote starts and keeps running (its Janus, its coturn).

:class:`Supervised` is what :class:`vardmote.media.embedded.EmbeddedJanus` and
:class:`vardmote.media.relay.EmbeddedRelay` share. It starts the process in a
session of its own (a Ctrl-C meant for vardmote reaches it through stop()),
with its output appended to ``<folder>/<stem>.log`` and its pid in
``<folder>/<stem>.pid``, and waits until it answers. It then checks it every
probe_interval, kills it after probe_failures unanswered checks in a row, and
starts it again after a pause that grows with every quick death and every
failed start in a row (backoff); a process that ran LONG_ENOUGH_SECONDS starts
the count again. A failed restart is logged and tried again, never given up.
stop() ends it with SIGTERM, then SIGKILL after 5 s. A process of the same
folder left running by a crashed vardmote is found through the pid file (its
command line must hold :attr:`Supervised._mark`) and killed before the first
start.

A subclass says what differs: its name in messages, its command line and
files (:meth:`Supervised._prepare`), the ports it needs free, how it is asked
whether it answers, and what it does between checks.

Errors: a failure to start is raised as the subclass's ``error`` class (an
OSError of the start itself too), with the end of the log where there is one.
A start that fails or is cancelled ends the process it began.

Concurrency: a Supervised belongs to one event loop. start() and stop() are
not to be called concurrently with each other; healthy() and pid may be read
at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

LONG_ENOUGH_SECONDS = 60.0
"""A process that ran this long before dying is restarted after the shortest pause again."""


async def until(condition: Callable[[], bool], *, within: float) -> bool:
    """until polls condition until it holds or within seconds have passed, and tells which.

    Polling, because the kernel offers no event for "this port is free again" or
    "every thread of that process has exited"; each check is one cheap syscall.
    """
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def ports_free(address: str, ports: Sequence[tuple[int, int]]) -> bool:
    """ports_free tells whether every (socket type, port) of ports can be bound on address now."""
    for kind, port in ports:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def runs(pid: int) -> bool:
    """runs tells whether any thread of a process still runs (Linux /proc).

    A killed process's main thread may be a zombie while its other threads still
    exit and hold its sockets.
    """
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for thread in threads:
        try:
            if (thread / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                return True
        except OSError:
            continue
    return False


def _leftover_pid(pid_file: Path, mark: Path) -> int | None:
    """_leftover_pid is the pid in pid_file if that process still runs with mark in its command line."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(mark).encode() in cmdline else None


class Supervised:
    """Supervised runs one child process for this vardmote and keeps it running."""

    name: ClassVar[str]
    """The program's name in log lines and errors: ``Janus``, ``coturn``."""
    noun: ClassVar[str]
    """What the embedded thing is called in "the embedded … is already started"."""
    stem: ClassVar[str]
    """The names of the log and pid files in the folder: ``<stem>.log``, ``<stem>.pid``."""
    error: ClassVar[type[RuntimeError]]
    """The error a failure to start is raised as."""
    logger: ClassVar[logging.Logger]
    """The logger of the subclass's module, so that its lines keep their logger's name."""

    def __init__(
        self,
        folder: Path,
        *,
        start_timeout: float,
        probe_interval: float,
        probe_failures: int,
        backoff: Sequence[float],
    ) -> None:
        if probe_interval <= 0 or probe_failures < 1 or not backoff or min(backoff) < 0:
            raise ValueError(
                f"{type(self).__name__} needs probe_interval > 0, probe_failures >= 1 and non-negative "
                f"pauses, got {probe_interval}, {probe_failures}, {tuple(backoff)}"
            )
        self.folder = folder
        self._start_timeout = start_timeout
        self._probe_interval = probe_interval
        self._probe_failures = probe_failures
        self._backoff = tuple(backoff)
        self._process: asyncio.subprocess.Process | None = None
        self._started_at = 0.0
        self._up = False
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self.restarts = 0
        """How many times the process was restarted after it died or stopped answering."""

    # What a subclass says.

    async def _before_start(self) -> None:
        """_before_start checks what start() needs and loads what it keeps; raises error."""

    @property
    def _mark(self) -> Path:
        """_mark is a path the command line of this folder's process holds (to know a leftover)."""
        raise NotImplementedError

    def _before_first_launch(self) -> None:
        """_before_first_launch is disk work done once per start() before the first launch,
        after a leftover has ended (run in a thread)."""

    def _prepare(self) -> list[str]:
        """_prepare writes the files a launch needs and returns the command line (run in a thread)."""
        raise NotImplementedError

    def _ports_free(self) -> bool:
        """_ports_free tells whether the ports the process listens on can be bound now."""
        raise NotImplementedError

    def _ports_taken(self) -> str:
        """_ports_taken is the error's text when the ports stay taken."""
        raise NotImplementedError

    @property
    def _serves_at(self) -> str:
        """_serves_at is where it serves, for the log line of each start."""
        raise NotImplementedError

    @property
    def _answers_where(self) -> str:
        """_answers_where is where it was asked, in the error of a start that timed out."""
        raise NotImplementedError

    async def _probe(self, timeout: float) -> bool:
        """_probe tells whether the process answers a check within timeout seconds."""
        raise NotImplementedError

    async def _answers_as_started(self) -> bool:
        """_answers_as_started tells, while it starts, whether this very process answers."""
        return await self._probe(0.5)

    async def _between_checks(self) -> None:
        """_between_checks is done after each check of a running process."""

    # What they share.

    @property
    def log_path(self) -> Path:
        """log_path is the process's output."""
        return self.folder / f"{self.stem}.log"

    @property
    def pid_path(self) -> Path:
        """pid_path holds the pid of the running process, to end one left behind by a crash."""
        return self.folder / f"{self.stem}.pid"

    @property
    def pid(self) -> int | None:
        """pid is the process id of the running process, or None."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    def healthy(self) -> bool:
        """healthy tells whether the process runs and answered its latest check."""
        return self.pid is not None and self._up

    async def start(self) -> None:
        """start writes the configuration, starts the process, waits until it answers and then
        watches it. Raises error, with the end of its log, if it cannot be started."""
        if self._supervisor is not None:
            raise self.error(f"the embedded {self.noun} is already started")
        await self._before_start()
        self._stopping = False
        await self._end_leftover()
        await asyncio.to_thread(self._before_first_launch)
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self.noun.lower()}-supervisor")

    async def stop(self) -> None:
        """stop ends the watching and the process itself: SIGTERM, then SIGKILL after 5 s."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._terminate()
        self._up = False
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    async def _end_leftover(self) -> None:
        """_end_leftover ends a process of this folder left running by a crashed vardmote."""
        pid = await asyncio.to_thread(_leftover_pid, self.pid_path, self._mark)
        if pid is None:
            return
        self.logger.warning("ending the %s (pid %s) a previous vardmote left running", self.name, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await until(lambda: not runs(pid), within=3)

    async def _launch(self) -> None:
        """_launch starts one process and returns once it answers; one that does not (or a
        cancelled launch) is ended, since it runs in a session of its own."""
        # One just ended may hold the ports a moment; another program holding them is named.
        if not await until(self._ports_free, within=3.0):
            raise self.error(self._ports_taken())
        try:
            command = await asyncio.to_thread(self._prepare)
            # O_APPEND: a log emptied while the process runs gets its next line at its start.
            output = await asyncio.to_thread(self.log_path.open, "ab")
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=self.folder,
                    start_new_session=True,  # a Ctrl-C meant for vardmote reaches it through stop()
                )
            finally:
                output.close()
        except OSError as e:
            raise self.error(f"{self.name} could not be started: {e}") from e
        self._started_at = time.monotonic()
        try:
            await asyncio.to_thread(self.pid_path.write_text, f"{self._process.pid}\n")
            self.logger.info(
                "started %s (pid %s) at %s; its log is %s",
                self.name,
                self._process.pid,
                self._serves_at,
                self.log_path,
            )
            await self._wait_answering()
        except BaseException:  # cancelled too
            await self._terminate()
            raise
        self._up = True

    async def _wait_answering(self) -> None:
        """_wait_answering waits until the process started last answers."""
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise self.error(
                    f"{self.name} exited with {self._process.returncode} while starting; "
                    f"the end of {self.log_path}:\n{self._log_tail()}"
                )
            if await self._answers_as_started():
                return
            await asyncio.sleep(0.05)
        raise self.error(
            f"{self.name} did not answer {self._answers_where} within {self._start_timeout:.0f} s; "
            f"the end of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            self.logger.warning("%s (pid %s) did not end on SIGTERM; killing it", self.name, process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def _pause(self, failures: int) -> float:
        return self._backoff[min(failures, len(self._backoff) - 1)]

    async def _supervise(self) -> None:
        """_supervise checks the process every probe_interval and restarts it when it dies or
        fails probe_failures checks in a row (it is then killed first).

        The pause before a start grows with every quick death and every failed start in a row
        (a port taken, the program gone); a process that ran LONG_ENOUGH_SECONDS starts the
        count again. A failed start is logged and tried again, never given up."""
        failures = 0  # quick deaths and failed starts in a row; sets the pause before the next start
        while not self._stopping:
            process = self._process
            assert process is not None
            await self._watch(process)
            if self._stopping:
                return
            self._up = False
            ran = time.monotonic() - self._started_at
            if ran >= LONG_ENOUGH_SECONDS:
                failures = 0
            pause = self._pause(failures)
            self.logger.error(
                "%s (pid %s) ended with %s after %.0f s; restarting it in %.1f s",
                self.name,
                process.pid,
                process.returncode,
                ran,
                pause,
            )
            while True:
                failures += 1
                await asyncio.sleep(pause)
                try:
                    await self._launch()
                except (self.error, OSError) as e:
                    pause = self._pause(failures)
                    self.logger.error("restarting %s failed: %s; trying again in %.1f s", self.name, e, pause)
                    continue
                break
            self.restarts += 1
            self.logger.warning(
                "%s restarted (pid %s); %d restarts so far", self.name, self.pid, self.restarts
            )

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """_watch returns when process has ended, killing it if it stopped answering."""
        ended = asyncio.ensure_future(process.wait())
        silent = 0
        try:
            while True:
                done, _ = await asyncio.wait({ended}, timeout=self._probe_interval)
                if done:
                    return
                answered = await self._probe(min(2.0, self._probe_interval))
                self._up = answered and process.returncode is None
                await self._between_checks()
                silent = 0 if answered else silent + 1
                if silent >= self._probe_failures:
                    self.logger.error("%s (pid %s) stopped answering; killing it", self.name, process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
        finally:
            ended.cancel()
