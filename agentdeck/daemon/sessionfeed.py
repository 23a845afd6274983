"""The sessions part of the daemon's /status: every registered session with its status,
since when it holds it, and its latest prompt.

The transition daemon already knows each session's status and since when (it asks tmux
and reads the hook files every pass), and stores each change in the registry; the feed
only lists the registry, takes the live status where a pass has one, and reads the
latest prompt incrementally. A list is kept for MAX_AGE seconds and concurrent requests
share one refresh, so a scrape every second costs a registry query per profile per
MAX_AGE. Registry calls go through each profile's database worker (never Pony from a
request greenlet).
"""
import time

from gevent.lock import BoundedSemaphore
from loguru import logger

from agentdeck.errors import UserError
from agentdeck.sessions.transcript import PromptCache
from agentdeck.sessions.view import describe

MAX_AGE = 1.0  # seconds a list is served before it is read again


class SessionFeed:
    """Sessions as /status entries.

    ``registry`` is the `Registry` of the home (its owner closes it); ``statuses()``
    returns {instance id: (status, since)} from the latest transition pass;
    ``hook_of(id)`` returns the instance's latest `HookStatus` or None, ``pane_of(id)`` its
    dead tmux `PaneState` (for the exit status) or None. The feed owns
    only its prompt cache, emptied by `close`.
    """

    def __init__(self, registry, statuses, hook_of, pane_of=lambda instance_id: None, max_age=MAX_AGE):
        self.registry = registry
        self.statuses = statuses
        self.hook_of = hook_of
        self.pane_of = pane_of
        self.max_age = max_age
        self.prompts = PromptCache()
        self._entries = []  # the last list served
        self._error = ""  # why the last refresh was incomplete; "" when it was not
        self._fetched = float("-inf")  # monotonic time of the last refresh
        self._refreshing = BoundedSemaphore(1)

    def sessions(self, fresh=False):
        """(entries, error): the session entries (dicts) and "" or what could not be read;
        ``fresh``: read now, even if the last list is younger than max_age."""
        with self._refreshing:
            if fresh or time.monotonic() - self._fetched >= self.max_age:
                self._refresh()
        return self._entries, self._error

    def close(self):
        self.prompts.clear()
        self._entries = []

    def _refresh(self):
        records, problems = [], []
        for profile in self.registry.profiles():
            try:
                records.extend(self.registry.store(profile).list_instances())
            except UserError as exc:
                problems.append(str(exc))
        error = "; ".join(problems)
        if error and error != self._error:  # once per distinct problem, not once per scrape
            logger.warning("status page: some sessions cannot be read: {}", error)
        self._error = error
        present = {record.id for record in records}
        for gone in {entry["id"] for entry in self._entries} - present:
            self.prompts.forget(gone)
        self._entries = self.entries(records, self.statuses())
        self._fetched = time.monotonic()

    def entries(self, records, live):
        """/status entries (`view.SessionView.to_dict`) for ``records`` (`InstanceRecord`s),
        in the same order; ``live`` is {id: (status, since)} and wins over the stored
        status where it has one."""
        return [describe(record, *(live.get(record.id) or (record.status, None)), self.hook_of(record.id),
                         self.prompts, self.pane_of(record.id)).to_dict() for record in records]
