"""States of a pooled MCP server and the transitions allowed between them.

Kept free of imports so every module can use them without cycles (supervisor's states.py).
"""

STOPPED = "stopped"    # not running and not wanted: before start, after stop
STARTING = "starting"  # child spawned; replaying the cached initialize before traffic flows
RUNNING = "running"    # child up and serving
BACKOFF = "backoff"    # child exited or failed to start; a restart is scheduled
FATAL = "fatal"        # gave up: too many failures, or the command cannot be run
STOPPING = "stopping"  # SIGTERM sent to the process group; waiting for it to exit
EXTERNAL = "external"  # the socket is served by another live agentdeck; we leave it alone

TRANSITIONS = {
    STOPPED: {STARTING, EXTERNAL, FATAL},
    STARTING: {RUNNING, BACKOFF, FATAL, STOPPING},
    RUNNING: {BACKOFF, STOPPING},
    BACKOFF: {STARTING, FATAL, STOPPED},
    FATAL: {STOPPED},
    STOPPING: {STOPPED},
    EXTERNAL: {STOPPED},
}


def check_transition(old, new):
    if new not in TRANSITIONS[old]:
        raise ValueError(f"illegal server state change {old} -> {new}")
