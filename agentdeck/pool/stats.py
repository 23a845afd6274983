"""Counters of one pooled server, for /status and /metrics; they only ever grow."""


class Stats:
    __slots__ = ("bytes_in", "bytes_out", "requests", "orphans", "oversize_requests",
                 "oversize_responses", "bad_child_lines", "idle_closed", "slow_closed", "slow_streams", "rejected",
                 "made_room")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}
