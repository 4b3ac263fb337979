"""A container's memory of recent answers: entries live a fixed time, and the oldest go first when it is full.

Safe under a threaded host (tests/api/test_threads.py): every read and write holds the cache's lock, which is never
held while anything else (a DynamoDB call) is waited for.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TtlCache[Value]:
    """At most `size` entries, each kept `seconds` after it was put (0 or less: nothing is kept)."""

    def __init__(self, seconds: float, size: int, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self.entries: OrderedDict[str, tuple[float, Value]] = OrderedDict()  # oldest first
        self.lock = threading.Lock()

    def get(self, key: str) -> Value | None:
        """The value put under `key` less than `seconds` ago, else None."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self.entries[key]
                return None
            return entry[1]

    def put(self, key: str, value: Value) -> None:
        if self.seconds <= 0:
            return
        with self.lock:
            self.entries.pop(key, None)  # a new entry for a key is the newest, whatever its old place
            self.entries[key] = (self.clock() + self.seconds, value)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)
