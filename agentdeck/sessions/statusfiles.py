"""StatusFileWatcher: the latest hook status of every session, kept current by inotify.

`agentdeck hook` writes ``hooks/<id>.json`` atomically. The watcher reads each file
that changes (through `sessions.status.read_hook_status`: never through a symlink,
at most 64 KiB) and keeps ``id -> HookStatus``. A file that is deleted, replaced by a
symlink or by something oversize or unreadable takes its id out of the map (it says
nothing we trust), as do `forget` and `retain` when instances are removed; `stop`
empties the map. Temp files (``.<id>.json.*.tmp``) and any name that is not
``<valid id>.json`` are ignored.
"""
from agentdeck.sessions.names import is_valid_name
from agentdeck.sessions.status import read_hook_status
from agentdeck.watchers.dirwatch import DirectoryWatch

STATUS_SUFFIX = ".json"


def instance_of(name):
    """The instance id a status file name ``<id>.json`` stands for, or None."""
    if not name.endswith(STATUS_SUFFIX):
        return None
    instance_id = name[:-len(STATUS_SUFFIX)]
    return instance_id if is_valid_name(instance_id) else None


class StatusFileWatcher:
    """``id -> HookStatus`` for the files in ``hooks_dir``.

    ``on_change(ids)``, if given, is called in the watch greenlet with the set of ids
    whose status changed, appeared or went away (it must not block).
    """

    def __init__(self, hooks_dir, on_change=None):
        self.on_change = on_change
        self._statuses = {}  # instance id -> HookStatus of its file, for readable files only
        self._watch = DirectoryWatch(hooks_dir, self._changed, accept=lambda name: instance_of(name) is not None)

    def start(self, group=None):
        """Start watching (see `DirectoryWatch.start`); the map fills with the first rescan."""
        self._watch.start(group)

    def stop(self):
        """Stop watching and empty the map."""
        self._watch.stop()
        self._statuses.clear()

    def get(self, instance_id):
        """The latest HookStatus of ``instance_id``, or None."""
        return self._statuses.get(instance_id)

    def items(self):
        """(instance id, HookStatus) of every readable file, as a list (a snapshot)."""
        return list(self._statuses.items())

    def forget(self, instance_id):
        """Drop ``instance_id`` (its instance was removed); a later write brings it back."""
        self._statuses.pop(instance_id, None)

    def retain(self, instance_ids):
        """Drop every id not in ``instance_ids`` (the instances that still exist)."""
        for instance_id in [i for i in self._statuses if i not in instance_ids]:
            del self._statuses[instance_id]

    def __len__(self):
        return len(self._statuses)

    @property
    def watch(self):
        """The underlying DirectoryWatch (its counters are for metrics and tests)."""
        return self._watch

    def _changed(self, names, rescan):
        ids = {instance_of(name) for name in names}
        changed = set()
        if rescan:
            changed = {i for i in self._statuses if i not in ids}
            for instance_id in changed:
                del self._statuses[instance_id]
        for instance_id in ids:
            status = read_hook_status(self._watch.path / f"{instance_id}{STATUS_SUFFIX}")
            if status is None:
                if self._statuses.pop(instance_id, None) is not None:
                    changed.add(instance_id)
            elif self._statuses.get(instance_id) != status:
                self._statuses[instance_id] = status
                changed.add(instance_id)
        if changed and self.on_change is not None:
            self.on_change(changed)
