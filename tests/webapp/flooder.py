"""A page flood from its own process: `python -m tests.webapp.flooder URL THREADS`.

Each thread asks for the search page with a new query text, again and again, and retries 10 ms
after a refusal (an attacker does not wait for Retry-After). It prints "limited" once a request
was refused, and when its standard input closes it stops and prints the answers it got as JSON
(status -> count; 0 for a failed connection).

An attacker sends from another machine. Here it shares two cores with the server and the
measuring client, so it runs in its own process (its threads do not take the client's
interpreter lock) at the lowest CPU priority (its own work does not take the server's cores):
what the client sees is then the server's doing, what the flood makes the server do.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter


def main(base: str, threads: int) -> None:
    if hasattr(os, "nice"):
        os.nice(19)
    stop, codes, lock = threading.Event(), Counter(), threading.Lock()
    limited = threading.Event()

    def flood(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            url = base + "/?" + urllib.parse.urlencode({"q": f"child protection online {n} {i}"})
            try:
                with urllib.request.urlopen(url, timeout=15) as r:
                    r.read()
                    code = r.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = 0
            with lock:
                codes[code] += 1
            if code != 200:
                if code == 429 and not limited.is_set():
                    limited.set()
                    print("limited", flush=True)
                time.sleep(0.01)

    workers = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    sys.stdin.read()  # until the parent closes it
    stop.set()
    for w in workers:
        w.join(timeout=30)
    print(json.dumps({str(k): v for k, v in codes.items()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
