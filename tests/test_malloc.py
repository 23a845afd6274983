"""The daemon's heap: memory freed between live objects, or held only by garbage in
reference cycles, goes back to the kernel."""
import subprocess
import sys

import pytest

FRAGMENTED_HEAP = """
import sys
from agentdeck.daemon import malloc
from agentdeck.daemon.rss import rss_bytes
malloc.tune()
base = rss_bytes()
burst = [bytes(1024) + bytes([i % 256]) for i in range(int(sys.argv[1]))]  # 1-KiB messages
kept = burst[::50]  # a few stay live, spread over the heap: free() alone returns nothing
del burst
held = rss_bytes() - base
freed = malloc.trim()
print(held >> 10, freed >> 10, (rss_bytes() - base) >> 10, malloc.trim() >> 10)
"""

# Messages held by objects in reference cycles (as a dropped client's frames and traceback
# hold its buffers) that survived a full collection: CPython frees them at its next full
# one, which waits until a quarter more objects have grown old.
OLD_CYCLES = """
import gc, sys
from agentdeck.daemon import malloc
from agentdeck.daemon.rss import rss_bytes
malloc.tune()
class Client:
    pass
base = rss_bytes()
clients = []
for i in range(int(sys.argv[1])):
    c = Client()
    c.buffer, c.me = bytes(1024) + bytes([i % 256]), c
    clients.append(c)
gc.collect()
del clients
held = rss_bytes() - base
print(held >> 10, malloc.trim() >> 10, (rss_bytes() - base) >> 10)
"""


def assert_given_back(script, messages):
    """Run ``script`` over ``messages`` 1-KiB messages: what it held before the trim was
    resident, and is not after it. Returns the script's further figures (KiB)."""
    out = subprocess.run([sys.executable, "-c", script, str(messages)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    held, freed, after, *more = map(int, out.stdout.split())  # KiB
    burst = messages * 1040 >> 10
    assert held >= burst * 2 // 3
    assert freed >= held - burst // 5 and after <= burst // 5
    return more


@pytest.mark.parametrize("messages", [60000, 3000], ids=["60 MiB", "3 MiB, under the old 4 MiB threshold"])
def test_a_burst_of_freed_messages_is_given_back_although_live_ones_sit_between(messages):
    again, = assert_given_back(FRAGMENTED_HEAP, messages)
    assert again <= 256  # nothing more to give back


def test_messages_held_only_by_old_reference_cycles_are_given_back():
    assert_given_back(OLD_CYCLES, 30000)
