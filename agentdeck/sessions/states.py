"""The statuses a session can have. Importable by everything, imports nothing.

``RUNNING``  the agent is working on a turn;
``WAITING``  the agent stopped and waits for the person (finished, or asks permission);
``IDLE``     the session is alive but nothing told us more (a plain shell, or an agent
             without hooks, or one that has not fired its first hook yet);
``DEAD``     the tmux session is gone, its pane exited, it was killed, or the agent
             ended its session.
"""

RUNNING = "running"
WAITING = "waiting"
IDLE = "idle"
DEAD = "dead"

STATUSES = (RUNNING, WAITING, IDLE, DEAD)
# The order lists show sessions in: those that want the person first.
BY_ATTENTION = (WAITING, RUNNING, IDLE, DEAD)
