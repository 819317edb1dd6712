"""The supervisor (ipex_integration.proc) with real processes: process groups, parent-death signal, signal
forwarding, group kill after the grace period, timeouts that kill the whole tree, the port check."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from ipex_integration.errors import FailedError, Interrupted, UsageError
from ipex_integration.proc import Child, ensure_port_free, in_parallel, run_command, shell_code

PY = sys.executable
REPO = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone_within(pid: int, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def wait_for_file(path: Path, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def spawner(pidfile: Path, *, ignore_term: bool = False) -> list[str]:
    """A child that starts a sleeping grandchild, writes the grandchild's pid, then hangs."""
    code = textwrap.dedent(f"""
        import signal, subprocess, sys, time
        if {ignore_term}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        g = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(g.pid))
        time.sleep(60)
    """)
    return [PY, "-c", code]


# -- short commands ----------------------------------------------------------------------------------


def test_timeout_kills_the_grandchildren_too(tmp_path):
    pidfile = tmp_path / "grandchild"
    start = time.monotonic()
    result = run_command(spawner(pidfile), timeout=1.0)
    assert result.timed_out and not result.ok
    assert time.monotonic() - start < 4
    assert gone_within(int(pidfile.read_text()))  # it ignored SIGTERM: the group's SIGKILL got it


def test_an_interrupt_while_waiting_kills_the_tree_and_goes_on(tmp_path):
    pidfile = tmp_path / "grandchild"

    def interrupt(_signum, _frame):
        raise Interrupted(signal.SIGTERM)

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)  # after the grandchildren started
        with pytest.raises(Interrupted):
            run_command(spawner(pidfile), timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gone_within(int(wait_for_file(pidfile)))


def test_run_command_results():
    assert run_command([PY, "-c", "import sys; print('hi'); sys.exit(3)"], timeout=10).returncode == 3
    assert run_command([PY, "-c", "print(input())"], timeout=10, input="echo\n").stdout == "echo\n"
    assert run_command(["/no/such/program"], timeout=10).not_found
    killed = run_command([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], timeout=10)
    assert shell_code(killed.returncode) == 143


def test_in_parallel_runs_at_once_and_keeps_order():
    start = time.monotonic()
    results = in_parallel(lambda n: run_command([PY, "-c", f"import time; time.sleep(1); print({n})"], timeout=10),
                          [1, 2, 3])
    assert [r.stdout.strip() for r in results] == ["1", "2", "3"]
    assert time.monotonic() - start < 2.5  # three 1 s commands together, not 3 s one after another


def test_an_interrupt_stops_every_parallel_command_at_once(tmp_path):
    pidfiles = [tmp_path / f"grandchild{i}" for i in range(3)]

    def interrupt(_signum, _frame):
        raise Interrupted(signal.SIGHUP)

    previous = signal.signal(signal.SIGALRM, interrupt)
    start = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)  # after the grandchildren started
        with pytest.raises(Interrupted):
            in_parallel(lambda p: run_command(spawner(p), timeout=30), pidfiles)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < 5  # not the 30 s timeout
    assert all(gone_within(int(wait_for_file(p))) for p in pidfiles)


# -- long-lived children -----------------------------------------------------------------------------


def test_child_pumps_lines_to_log_and_sink_and_keeps_the_tail(tmp_path):
    lines: list[str] = []
    log = tmp_path / "logs" / "c.log"
    child = Child("printer", [PY, "-c", "import sys\nfor i in range(50): print(i)\nsys.exit(4)"],
                  log_path=log, sink=lines.append).start()
    assert child.wait() == 4
    assert lines == [str(i) for i in range(50)]
    assert log.read_text().splitlines() == lines
    assert child.tail(3) == ("47", "48", "49")


def test_start_failure_raises_the_callers_error(tmp_path):
    with pytest.raises(UsageError, match="cannot start thing: /no/such does not exist"):
        Child("thing", ["/no/such"], error=UsageError).start()


def test_stop_kills_the_group_after_the_grace_period_when_sigterm_is_ignored(tmp_path):
    pidfile = tmp_path / "grandchild"
    child = Child("stubborn", spawner(pidfile, ignore_term=True), stdout=subprocess.DEVNULL).start()
    grandchild = int(wait_for_file(pidfile))
    start = time.monotonic()
    assert child.stop(grace=0.5) == 128 + signal.SIGKILL
    assert 0.4 < time.monotonic() - start < 3
    assert gone_within(grandchild) and not alive(child.pid)


def test_leaving_the_block_stops_the_child(tmp_path):
    with pytest.raises(RuntimeError), Child("sleeper", [PY, "-c", "import time; time.sleep(60)"]) as child:
        raise RuntimeError("boom")
    assert child.poll() == 128 + signal.SIGTERM


LAUNCHER = textwrap.dedent("""
    import sys
    from ipex_integration.proc import Child, forward_signals
    child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    with forward_signals(child.send_signal):
        child.start()
        print(child.pid, flush=True)
        sys.exit(child.wait())
""")


def start_launcher() -> tuple[subprocess.Popen, int]:
    launcher = subprocess.Popen([PY, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    return launcher, int(launcher.stdout.readline())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_reach_the_child_and_its_code_is_128_plus_n(signum):
    launcher, child = start_launcher()
    with launcher:
        launcher.send_signal(signum)
        assert launcher.wait(timeout=5) == 128 + signum
    assert not alive(child)


def test_sigkill_of_the_launcher_leaves_no_child():
    launcher, child = start_launcher()
    assert alive(child)
    with launcher:
        launcher.kill()
        launcher.wait(timeout=5)
    assert gone_within(child)  # the parent-death signal, not anything the dead launcher did


def test_a_signal_before_the_child_exists_is_held_and_delivered_once_it_starts():
    from ipex_integration.proc import SignalRelay

    child = Child("sleeper", [PY, "-c", "import time; time.sleep(60)"])
    relay = SignalRelay(child)
    relay(signal.SIGTERM)  # the user pressed it while the launcher was still preparing
    assert child.proc is None and relay.received == [signal.SIGTERM]
    with child.start():
        relay.started()
        assert child.wait(timeout=5) == 128 + signal.SIGTERM
    relay.started()  # nothing left to deliver a second time
    assert relay.received == [signal.SIGTERM]


# -- the port check ----------------------------------------------------------------------------------


def test_port_check():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is already in use: a test server "
                                             "already listens there, so X could not start"):
            ensure_port_free("127.0.0.1", port, server="X", error=UsageError, occupant=lambda: "a test server")
        with pytest.raises(FailedError, match="already in use: something else"):
            ensure_port_free(", 127.0.0.1", port)  # each of a list; blanks skipped
    ensure_port_free("127.0.0.1", port)  # free again
    ensure_port_free("127.0.0.1", 0)
    with pytest.raises(FailedError, match="no such address"):
        ensure_port_free("192.0.2.1", port)


def test_an_interrupt_while_the_child_is_being_started_leaves_no_child(tmp_path):
    """A SIGTERM that lands while Popen is starting the child (here: already pending when run_command begins)
    must still stop that child: otherwise it runs on with no one holding its handle (a `git init` writing into
    a staging folder that the caller's `finally` is removing)."""
    import textwrap

    from tests.faults import harness

    script = textwrap.dedent("""
        import os, signal
        from ipex_integration.errors import Interrupted
        from ipex_integration.proc import run_command

        def raise_interrupted(signum, _frame):
            raise Interrupted(signum)

        signal.signal(signal.SIGTERM, raise_interrupted)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        os.kill(os.getpid(), signal.SIGTERM)  # pending: delivered inside spawn, once the child exists
        try:
            run_command(["sleep", "30"], timeout=60)
        except Interrupted:
            print("interrupted")
    """)
    env = harness.child_env()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "interrupted", done.stderr
    assert harness.wait_for_no_processes(env[harness.MARKER], within=3.0) == []
