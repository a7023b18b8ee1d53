"""The supervisor with real child processes: restart with backoff, clean stop of whole process groups, log files."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from upbit_llm.supervisor import ChildSpec, Supervisor, SupervisorEvent, describe_exit, group_members

PY = sys.executable
SLEEPER = [PY, "-c", "import time\nwhile True: time.sleep(0.1)"]


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap(tmp_path: Path) -> None:
    sup = Supervisor([], tmp_path, backoff_initial=1.0, backoff_max=30.0)
    assert [sup.backoff_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"


def test_a_killed_child_is_reported_and_restarted_with_a_new_pid(tmp_path: Path) -> None:
    events: list[SupervisorEvent] = []
    sup = Supervisor([ChildSpec("worker", SLEEPER)], tmp_path, backoff_initial=0.2, on_event=events.append)
    try:
        sup.start()
        first = sup.children[0].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert _wait(lambda: (sup.poll(), sup.children[0].restarts)[1] == 1 and sup.children[0].running)
        second = sup.children[0].pid
        assert second != first
        exited = [e for e in events if e.kind == "exited"]
        assert len(exited) == 1 and "killed by SIGKILL" in exited[0].message and "restarting in" in exited[0].message
        assert [e.kind for e in events].count("started") == 2
    finally:
        sup.stop()
    assert sup.all_pids() == []


def test_a_child_that_keeps_crashing_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    events: list[SupervisorEvent] = []
    crasher = ChildSpec("crasher", [PY, "-c", "raise SystemExit(3)"])
    sup = Supervisor([crasher], tmp_path, backoff_initial=0.1, backoff_max=0.4, on_event=events.append)
    try:
        sup.start()
        assert _wait(lambda: (sup.poll(), sup.children[0].restarts)[1] >= 4, timeout=15)
    finally:
        sup.stop()
    delays = [e.message.split("restarting in ")[1].split("s")[0] for e in events if e.kind == "exited"]
    assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"]
    assert all("exited with code 3" in e.message for e in events if e.kind == "exited")
    assert sup.backoff_delay(sup.children[0].failures_in_a_row) == 0.4


def test_a_child_marked_not_restartable_is_reported_once(tmp_path: Path) -> None:
    events: list[SupervisorEvent] = []
    sup = Supervisor(
        [ChildSpec("once", [PY, "-c", "pass"], restart=False)], tmp_path, backoff_initial=0.05, on_event=events.append
    )
    sup.start()
    assert _wait(lambda: (sup.poll(), [e for e in events if e.kind == "gave_up"])[1] != [])
    time.sleep(0.3)
    sup.poll()
    sup.stop()
    assert [e.kind for e in events].count("started") == 1


def test_stop_terminates_first_then_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = [
        PY,
        "-c",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
        "while True: time.sleep(0.1)",
    ]
    polite = ChildSpec("polite", SLEEPER)
    events: list[SupervisorEvent] = []
    log_dir = tmp_path / "logs"
    stub = ChildSpec("stubborn", stubborn, ready=lambda: "ready" in (log_dir / "stubborn.log").read_text())
    sup = Supervisor([polite, stub], log_dir, stop_grace=1.0, on_event=events.append)
    sup.start()
    pids = [c.pid for c in sup.children]
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 8
    assert not any(_alive(p) for p in pids if p)
    killed = [e for e in events if e.kind == "killed"]
    assert [e.child for e in killed] == ["stubborn"]
    stopped = {e.child: e.message for e in events if e.kind == "stopped"}
    assert "SIGTERM" in stopped["polite"] and "SIGKILL" in stopped["stubborn"]


def test_stop_leaves_no_grandchild_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    parent = [
        PY,
        "-c",
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(0.1)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "while True: time.sleep(0.1)",
    ]
    sup = Supervisor([ChildSpec("parent", parent, ready=pidfile.exists)], tmp_path, stop_grace=2.0)
    sup.start()
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    assert grandchild in group_members(sup.children[0].pid or 0)
    sup.stop()
    assert _wait(lambda: not _alive(grandchild), timeout=3)
    assert sup.all_pids() == []


def test_child_output_goes_to_a_log_file_named_after_the_child(tmp_path: Path) -> None:
    talker = ChildSpec("talker", [PY, "-c", "import sys; print('hello out'); print('hello err', file=sys.stderr)"])
    sup = Supervisor([talker], tmp_path / "logs", backoff_initial=60)
    sup.start()
    assert _wait(lambda: not sup.children[0].running)
    sup.stop()
    text = (tmp_path / "logs" / "talker.log").read_text()
    assert "hello out" in text and "hello err" in text and "starting talker" in text


def test_run_stops_everything_on_sigterm_and_says_why(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    sup = Supervisor([ChildSpec("a", SLEEPER), ChildSpec("b", SLEEPER)], tmp_path, state_file=state)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    why = sup.run(duration=20)
    assert why == "SIGTERM"
    assert sup.all_pids() == []
    assert '"supervisor_pid"' in state.read_text()


def test_run_with_a_duration_stops_by_itself(tmp_path: Path) -> None:
    sup = Supervisor([ChildSpec("a", SLEEPER)], tmp_path)
    started = time.monotonic()
    assert sup.run(duration=0.5, install_signals=False) == "duration elapsed"
    assert time.monotonic() - started < 10
    assert sup.all_pids() == []


def test_a_one_shot_child_runs_to_completion_before_the_next_child_and_is_not_restarted(tmp_path: Path) -> None:
    events: list[SupervisorEvent] = []
    marker = tmp_path / "done"
    work = f"import time; time.sleep(0.5); open({str(marker)!r}, 'w')"
    oneshot = ChildSpec("backfill", [PY, "-c", work], oneshot=True)
    after = ChildSpec("after", [PY, "-c", f"import os, time\nassert os.path.exists({str(marker)!r})\ntime.sleep(30)"])
    sup = Supervisor([oneshot, after], tmp_path, backoff_initial=0.1, on_event=events.append)
    try:
        sup.start()
        time.sleep(0.5)
        sup.poll()
        time.sleep(0.3)
        sup.poll()
        assert sup.children[1].running  # it found the one-shot's work done
        assert sup.children[0].finished and sup.children[0].restarts == 0
    finally:
        sup.stop()
    kinds = [(e.child, e.kind) for e in events]
    assert ("backfill", "finished") in kinds and ("backfill", "exited") not in kinds
    assert kinds.index(("backfill", "finished")) < kinds.index(("after", "started"))
