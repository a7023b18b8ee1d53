"""Supervised child processes: start, log to files, restart with backoff, stop whole process groups cleanly.

Each child runs in its own session (so its process group id is its pid): Ctrl-C at the terminal reaches only the
supervisor, which then stops the children in reverse start order — SIGTERM to each group, a grace period, then
SIGKILL to whatever is left — so no grandchild (a Celery pool process, a broker) outlives the run. On Linux each
child also gets PR_SET_PDEATHSIG, so a supervisor killed with SIGKILL still takes its direct children with it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
try:  # loaded once in the parent: the forked child only makes the call
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: the supervisor's own stop path still cleans up
    _LIBC = None


def _child_preexec() -> None:  # pragma: no cover - runs in the forked child
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is `pgid`, read from /proc."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class ChildSpec:
    """What to run. `ready` (optional) is polled after start until true or `ready_timeout` passes."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    restart: bool = True
    # A one-shot child (e.g. a backfill) is done when it exits with 0: reported as "finished", never restarted.
    oneshot: bool = False
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 30.0
    url: str = ""  # shown to people: where this child can be reached


@dataclass
class Child:
    spec: ChildSpec
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    last_exit: str = ""
    log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def finished(self) -> bool:
        """A one-shot child that completed successfully."""
        return self.spec.oneshot and self.proc is not None and self.proc.poll() == 0


@dataclass
class SupervisorEvent:
    kind: str  # started / ready / not_ready / exited / restarting / finished / stopped / killed / gave_up
    child: str
    message: str


class Supervisor:
    """Runs `specs` as children; `poll()` detects deaths and restarts due children; `stop()` ends everything."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        log_dir: Path,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        stop_grace: float = 10.0,
        on_event: Callable[[SupervisorEvent], None] | None = None,
        state_file: Path | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self.log_dir = log_dir
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_grace = stop_grace
        self.on_event = on_event
        self.state_file = state_file
        self.children = [Child(spec=s, log_path=log_dir / f"{s.name}.log") for s in specs]
        self.stopping = False

    # --- events ----------------------------------------------------------------------------------------
    def _emit(self, kind: str, child: Child, message: str) -> None:
        level = logging.WARNING if kind in ("exited", "gave_up", "not_ready", "killed") else logging.INFO
        # With a callback the caller shows the event to people; the log keeps it at DEBUG to avoid saying it twice.
        log.log(logging.DEBUG if self.on_event else level, "child=%s event=%s %s", child.spec.name, kind, message)
        if self.on_event:
            self.on_event(SupervisorEvent(kind, child.spec.name, message))

    # --- start -----------------------------------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if child.log_file is None:
            child.log_file = child.log_path.open("ab")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        child.log_file.write(f"\n--- {stamp} starting {child.spec.name} (start #{child.restarts + 1})\n".encode())
        child.log_file.flush()
        env = dict(child.spec.env) if child.spec.env is not None else None
        child.proc = subprocess.Popen(  # argv comes from our own specs, never a shell
            list(child.spec.argv),
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=child.spec.cwd,
            preexec_fn=_child_preexec,  # setsid + pdeathsig (async-signal-safe calls only)
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        self._emit("started", child, f"pid={child.proc.pid} log={child.log_path}")
        self._write_state()

    def _wait_ready(self, child: Child) -> None:
        if child.spec.oneshot and child.spec.ready is None:
            # A one-shot child is "ready" when it has finished: the next children depend on its work.
            deadline = time.monotonic() + child.spec.ready_timeout
            while time.monotonic() < deadline and not self.stopping and child.running:
                time.sleep(0.2)
            self.poll()
            return
        if child.spec.ready is None:
            return
        deadline = time.monotonic() + child.spec.ready_timeout
        while time.monotonic() < deadline and not self.stopping:
            if not child.running:
                return  # poll() reports the death
            try:
                if child.spec.ready():
                    self._emit("ready", child, child.spec.url or "ready")
                    return
            except Exception as exc:  # noqa: BLE001 - a readiness probe failing just means "not yet"
                log.debug("child=%s ready probe failed: %s", child.spec.name, exc)
            time.sleep(0.2)
        if child.running:
            self._emit("not_ready", child, f"not ready after {child.spec.ready_timeout:.0f}s; see {child.log_path}")

    def start(self) -> None:
        """Start every child in order, waiting for each one's readiness probe (if any) before the next."""
        for child in self.children:
            if self.stopping:
                return
            self._spawn(child)
            self._wait_ready(child)

    # --- watch -----------------------------------------------------------------------------------------
    def backoff_delay(self, failures_in_a_row: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** max(0, failures_in_a_row - 1))

    def poll(self) -> None:
        """Detect children that died and restart the ones whose backoff has elapsed."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.restart_at is None:
                code = child.proc.poll()
                if code is None:
                    continue
                ran = now - child.started_at
                child.last_exit = describe_exit(code)
                self._kill_group(child.proc.pid)  # leftovers of a dead leader would be orphans
                if self.stopping:
                    continue
                if child.spec.oneshot and code == 0:
                    self._emit("finished", child, f"pid={child.proc.pid} finished in {ran:.1f}s")
                    child.restart_at = float("inf")
                    continue
                child.failures_in_a_row = 1 if ran >= self.stable_after else child.failures_in_a_row + 1
                if not child.spec.restart:
                    self._emit("gave_up", child, f"pid={child.proc.pid} {child.last_exit}; not restarted")
                    child.restart_at = float("inf")
                    continue
                delay = self.backoff_delay(child.failures_in_a_row)
                child.restart_at = now + delay
                self._emit(
                    "exited",
                    child,
                    f"pid={child.proc.pid} {child.last_exit} after {ran:.1f}s; restarting in {delay:.1f}s "
                    f"(restart #{child.restarts + 1}); log {child.log_path}",
                )
            elif child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.restarts += 1
                self._emit("restarting", child, f"restart #{child.restarts}")
                self._spawn(child)

    def snapshot(self) -> list[dict[str, object]]:
        now = time.monotonic()
        out: list[dict[str, object]] = []
        for c in self.children:
            out.append(
                {
                    "name": c.spec.name,
                    "pid": c.pid,
                    "running": c.running,
                    "finished": c.finished,
                    "restarts": c.restarts,
                    "uptime_s": round(now - c.started_at, 1) if c.running else 0.0,
                    "last_exit": c.last_exit,
                    "log": str(c.log_path),
                    "url": c.spec.url,
                }
            )
        return out

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervisor_pid": os.getpid(), "children": self.snapshot()}, indent=2))
        tmp.replace(self.state_file)

    # --- stop ------------------------------------------------------------------------------------------
    @staticmethod
    def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """SIGTERM every child's group (reverse start order), wait `stop_grace`, SIGKILL what is left."""
        self.stopping = True
        started = [c for c in reversed(self.children) if c.proc is not None]
        for child in started:
            if child.proc is not None and (child.running or group_members(child.proc.pid)):
                self._kill_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for child in started:
            assert child.proc is not None
            pgid = child.proc.pid
            while time.monotonic() < deadline:
                child.proc.poll()
                if not child.running and not group_members(pgid):
                    break
                time.sleep(0.1)
            if child.running or group_members(pgid):
                self._emit("killed", child, f"pid={pgid} ignored SIGTERM for {self.stop_grace:.0f}s; sent SIGKILL")
                self._kill_group(pgid, signal.SIGKILL)
                try:
                    child.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log.error("child=%s pid=%s did not die after SIGKILL", child.spec.name, pgid)
            code = child.proc.poll()
            how = "still running" if code is None else describe_exit(code)
            if code == -signal.SIGTERM:
                how = "ended on SIGTERM"
            self._emit("stopped", child, f"pid={pgid} {how}")
            if child.log_file is not None:
                child.log_file.close()
                child.log_file = None
        self._write_state()

    def all_pids(self) -> list[int]:
        """Every live pid in every child's process group (empty after a clean stop)."""
        pids: list[int] = []
        for c in self.children:
            if c.proc is not None:
                pids.extend(group_members(c.proc.pid))
        return pids

    # --- main loop -------------------------------------------------------------------------------------
    def run(
        self,
        *,
        duration: float | None = None,
        tick: float = 0.5,
        on_tick: Callable[[], None] | None = None,
        install_signals: bool = True,
    ) -> str:
        """Start, watch until SIGINT/SIGTERM or `duration` seconds, then stop. Returns why it stopped."""
        reason = {"why": "duration elapsed"}

        def _handler(signum: int, _frame: object) -> None:
            reason["why"] = signal.Signals(signum).name
            self.stopping = True

        previous: dict[int, object] = {}
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, _handler)
        end = None if duration is None else time.monotonic() + duration
        try:
            self.start()
            while not self.stopping and (end is None or time.monotonic() < end):
                self.poll()
                self._write_state()
                if on_tick:
                    on_tick()
                time.sleep(tick)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
        return reason["why"]
