"""The one supervisor: every child the project starts (probes, pip, git, benchmark workers, ComfyUI, Ollama)
goes through here.

- `spawn`: start a child in its own process group with the parent-death signal set; stop a whole group
  (signal, grace period, SIGKILL); exit codes as a shell reports them.
- `command`: short commands (`run_command`, the `Runner` test seam); a timeout or an interrupt kills the tree.
- `child`: long-lived children (`Child`): output pumped to a log file and a sink, log tail, stop.
- `signals`: forward SIGINT/SIGTERM/SIGHUP to our children while a launcher runs (`SignalRelay`: to one child,
  holding a signal that comes before the child exists).
- `ports`: the one "is this port free" check before a server starts.
"""

from .child import TAIL_LINES, Child, LogPump
from .command import CommandResult, Runner, in_parallel, run_command
from .ports import ensure_port_free
from .signals import FORWARDED_SIGNALS, SignalRelay, forward_signals
from .spawn import DEATH_SIGNAL, STOP_GRACE_S, reap, shell_code, spawn, stop_all, stop_group

__all__ = [
    "DEATH_SIGNAL", "FORWARDED_SIGNALS", "STOP_GRACE_S", "TAIL_LINES", "Child", "CommandResult", "LogPump",
    "Runner", "SignalRelay", "ensure_port_free", "forward_signals", "in_parallel", "reap", "run_command", "shell_code", "spawn",
    "stop_all", "stop_group",
]
