"""UUIDv7 (RFC 9562) event ids, strictly increasing per generator: within a
millisecond a 12-bit counter in ``rand_a`` keeps the order the entries were made
in, so sorting a gateway's ids sorts its entries."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def uuidv7_generator(now_ms: Callable[[], float] = lambda: time.time() * 1000) -> Callable[[], str]:
    """A generator of strictly increasing UUIDv7 strings; ``now_ms`` gives Unix milliseconds."""
    last_ms = -1
    counter = 0
    lock = threading.Lock()

    def next_id() -> str:
        nonlocal last_ms, counter
        rand = bytearray(os.urandom(16))
        with lock:
            ms = int(now_ms())
            if ms > last_ms:
                # Start low in the counter's range so a burst within one millisecond has room to count up.
                counter = ((rand[6] & 0x07) << 8) | rand[7]
            else:
                ms = last_ms
                counter += 1
                if counter > 0xFFF:
                    ms += 1
                    counter = 0
            last_ms = ms
        rand[0:6] = ms.to_bytes(6, "big")
        rand[6] = 0x70 | (counter >> 8)
        rand[7] = counter & 0xFF
        rand[8] = (rand[8] & 0x3F) | 0x80
        h = rand.hex()
        return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    return next_id
