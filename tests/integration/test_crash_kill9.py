# SPDX-License-Identifier: Apache-2.0
"""Crash safety of the whole daemon: StatsD over TCP flows into sluiced while `kill -9`
hits it at random moments. Before each kill the test reads, through the query API, what
the store already holds; after the restart every one of those samples must still be there
(a flush the API could see had completed its WAL append), the store must open cleanly, and
earlier cycles must be unchanged. SL_CRASH_CYCLES overrides the default 20 (the soak: 100).
"""
import json
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Sluiced  # noqa: E402

BIN = sys.argv[1]
CYCLES = int(os.environ.get("SL_CRASH_CYCLES", "20"))
rng = random.Random(int(os.environ.get("SL_CRASH_SEED", "20261128")))


def query(d, q):
    url = f"http://127.0.0.1:{d.http_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read().decode())
    assert body["status"] == "success", body
    return {r["metric"].get("cycle"): float(r["value"][1]) for r in body["data"]["result"]}


def sender(port, cycle, stop):
    """Newline-delimited StatsD over one TCP connection until told to stop (or the daemon dies)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        line = f"crash_ack:1|c|#cycle:{cycle}\n".encode() * 50
        deadline = time.time() + 30
        while not stop.is_set() and time.time() < deadline:
            s.sendall(line)
            time.sleep(0.002)
        s.close()
    except OSError:
        pass  # the daemon was killed under us: expected


def main():
    tmp = tempfile.TemporaryDirectory(prefix="sluice-crash-")
    data_dir = os.path.join(tmp.name, "data")
    confirmed = {}  # cycle -> value seen through the API before that cycle's kill
    failures = 0
    for cycle in range(CYCLES):
        d = Sluiced(BIN, flush="1s", data_dir=data_dir).start()
        try:
            log = d.read_log()
            if "corrupt" in log.lower() or "level=error" in log:
                raise AssertionError(f"cycle {cycle}: store did not open cleanly:\n{log}")
            # Everything confirmed in earlier cycles is still there, exactly or more.
            now = query(d, 'last_over_time(crash_ack_total[1h])')
            for c, v in confirmed.items():
                got = now.get(str(c), 0.0)
                if got < v:
                    raise AssertionError(f"cycle {cycle}: cycle {c} lost samples: "
                                         f"had {v} before the kill, {got} after restart")
            stop = threading.Event()
            t = threading.Thread(target=sender, args=(d.statsd_port, cycle, stop), daemon=True)
            t.start()
            # Let at least one flush land, then kill at a random moment (often mid-flush).
            time.sleep(1.2 + rng.random() * 1.5)
            seen = query(d, 'last_over_time(crash_ack_total[1h])').get(str(cycle), 0.0)
            time.sleep(rng.random() * 0.3)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(timeout=10)
            stop.set()
            t.join(timeout=10)
            confirmed[cycle] = seen
            print(f"cycle {cycle}: confirmed {seen:.0f} before kill -9")
        except Exception as e:  # noqa: BLE001
            failures += 1
            print(f"FAIL cycle {cycle}: {e}")
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            break
        finally:
            if getattr(d, "log", None):
                d.log.close()
            d.tmp.cleanup()
    if not failures:
        d = Sluiced(BIN, flush="1s", data_dir=data_dir).start()
        try:
            final = query(d, 'last_over_time(crash_ack_total[1h])')
            for c, v in confirmed.items():
                if final.get(str(c), 0.0) < v:
                    failures += 1
                    print(f"FAIL final: cycle {c} has {final.get(str(c))} < confirmed {v}")
            if sum(1 for v in confirmed.values() if v > 0) < CYCLES // 2:
                failures += 1
                print("FAIL: fewer than half the cycles got a flush in before the kill")
        finally:
            d.stop()
            d.tmp.cleanup()
    tmp.cleanup()
    print(f"{CYCLES - failures if not failures else 0} passed, {failures} failed")
    return 1 if failures else 0


sys.exit(main())
