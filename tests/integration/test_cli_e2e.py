# SPDX-License-Identifier: Apache-2.0
"""End to end for the sluice CLI: import an exposition file with timestamps (counters, gauges,
NaN/Inf/-0.0/denormal values, escaped labels, bad lines) into a fresh data directory, read it
back through a real sluiced's /api/v1/query_range and through `sluice query`, export it and
compare bit for bit with the input, re-import the export, check `sluice inspect`, and check
the errors: a data dir locked by a running daemon, a second daemon on the same dir, a missing
dir, a corrupt block and a block of a foreign format version.

usage: test_cli_e2e.py SLUICED SLUICE"""
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import json
import urllib.request
from decimal import Decimal

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402

SLUICED, SLUICE = sys.argv[1], sys.argv[2]


checks = Checks()
check = checks.check


def sluice(*args, stdin=None, timeout=120):
    p = subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout,
                       input=stdin)
    return p.returncode, p.stdout, p.stderr


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or bits(a) == bits(b)


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unesc(s):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1),
                                                                            "\\" + m.group(1)), s)


def parse_exposition(text, seconds):
    """{(name, ((label, value), ...sorted), ts_ms): float}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+) (\S+)$', line)
        assert m, f"unparsable line {line!r}"
        labels = tuple(sorted((k, unesc(v)) for k, v in LABEL_RE.findall(m.group(3) or "")
                              if v != ""))
        ts = int(Decimal(m.group(5)) * 1000) if seconds else int(m.group(5))
        out[(m.group(1), labels, ts)] = float(m.group(4))
    return out


# ---- the input: 3 hours at 15 s, ending a minute ago -------------------------------------
STEP_MS = 15000
END_MS = (int(time.time() * 1000) // STEP_MS) * STEP_MS - 60000
START_MS = END_MS - 3 * 3600 * 1000
ODD_PATH = 'a"b\\c\nd'  # quote, backslash, newline: every escape the formats define
SPECIALS = [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 2.0 ** 63,
            -(2.0 ** 63), 1.7976931348623157e308, 0.1, 1e-300]

rng = random.Random(7)
lines = ["# HELP http_requests_total Requests served.", "# TYPE http_requests_total counter"]
expected = {}
counters = {("GET", "200"): 0, ("POST", "500"): 0}
temp = 20.0
for i, t in enumerate(range(START_MS, END_MS + 1, STEP_MS)):
    for (method, code) in counters:
        counters[(method, code)] += rng.randint(0, 50)
        lines.append(f'http_requests_total{{method="{method}",code="{code}",'
                     f'path="{esc(ODD_PATH)}"}} {counters[(method, code)]} {t}')
        expected[("http_requests_total",
                  tuple(sorted([("method", method), ("code", code), ("path", ODD_PATH)])),
                  t)] = float(counters[(method, code)])
    temp += rng.gauss(0, 0.3)
    lines.append(f'room_temperature_celsius{{room="lab"}} {temp!r} {t}')
    expected[("room_temperature_celsius", (("room", "lab"),), t)] = temp
    if i < len(SPECIALS):
        v = SPECIALS[i]
        txt = "NaN" if math.isnan(v) else "+Inf" if v == math.inf else "-Inf" if v == -math.inf \
            else repr(v)
        lines.append(f"edge_values {txt} {t}")
        expected[("edge_values", (), t)] = v
lines.insert(10, "this is not a sample")           # bad line: reported, skipped
lines.insert(20, 'room_temperature_celsius 21.5')  # no timestamp: refused for import
INPUT = "\n".join(lines) + "\n"
BAD_LINE_NUMBERS = (11, 21)

work = tempfile.TemporaryDirectory(prefix="sluice-cli-")
DATA = os.path.join(work.name, "data")
IN_PATH = os.path.join(work.name, "in.prom")
with open(IN_PATH, "w") as f:
    f.write(INPUT)
state = {}


def test_import_reports_bad_lines_and_summary():
    rc, out, err = sluice("import", "--data-dir", DATA, IN_PATH)
    assert rc == 3, (rc, out, err)  # finished, with bad lines skipped
    for n in BAD_LINE_NUMBERS:
        assert f"{IN_PATH}:{n}:" in err, err
    assert "sample without a timestamp" in err, err
    m = re.search(r"(\d+) series, (\d+) samples", out)
    assert m, out
    assert int(m.group(1)) == 4 and int(m.group(2)) == len(expected), (out, len(expected))
    assert "2 bad lines" in out, out


def test_import_strict_stops_at_first_bad_line():
    rc, out, err = sluice("import", "--strict", "--data-dir", os.path.join(work.name, "strict"),
                          IN_PATH)
    assert rc == 1, (rc, out, err)
    assert f"{IN_PATH}:{BAD_LINE_NUMBERS[0]}:" in err and "--strict" in err, err


def test_inspect_shows_blocks_and_totals():
    rc, out, err = sluice("inspect", DATA)
    assert rc == 0, (rc, out, err)
    rows = [ln for ln in out.splitlines() if ln.startswith("b-")]
    assert len(rows) >= 2, out  # 3 h of data spans at least two 2 h block ranges
    total = [ln for ln in out.splitlines() if ln.startswith("total (")]
    assert total, out
    cols = total[0].split()
    assert int(cols[3]) == len(expected), (total, len(expected))  # SAMPLES column
    for r in rows:
        f = r.split()
        ts_b, val_b, idx_b, all_b = map(float, f[6:10])
        assert 0 < ts_b + val_b + idx_b <= all_b, r
    assert re.search(r"^wal: \d+ segments", out, re.M), out
    assert "head: 0 series, 0 samples" in out, out  # import cut everything into blocks


def test_export_matches_input_bit_for_bit():
    rc, out, err = sluice("export", "--data-dir", DATA)
    assert rc == 0, (rc, err)
    assert out.endswith("# EOF\n"), out[-50:]
    got = parse_exposition(out, seconds=True)
    assert set(got) == set(expected), (len(got), len(expected),
                                       sorted(set(expected) ^ set(got))[:5])
    bad = [(k, got[k], expected[k]) for k in expected if not same(got[k], expected[k])]
    assert not bad, bad[:5]
    state["export"] = out


def test_export_match_and_range_select():
    t0, t1 = START_MS + 3600 * 1000, START_MS + 3600 * 1000 + 10 * STEP_MS
    rc, out, err = sluice("export", "--data-dir", DATA, "--match",
                          'http_requests_total{method="GET"}', "--match", "edge_values",
                          "--start", str(t0 / 1000), "--end", str(t1 / 1000))
    assert rc == 0, (rc, err)
    got = parse_exposition(out, seconds=True)
    want = {k: v for k, v in expected.items()
            if t0 <= k[2] <= t1 and (k[0] == "edge_values" or
                                     (k[0] == "http_requests_total" and ("method", "GET") in k[1]))}
    assert set(got) == set(want) and len(want) == 11, (len(got), len(want))


def test_reimport_of_export_is_identical():
    d2 = os.path.join(work.name, "again")
    p = os.path.join(work.name, "export.om")
    with open(p, "w") as f:
        f.write(state["export"])
    rc, out, err = sluice("import", "--data-dir", d2, p)
    assert rc == 0 and "(openmetrics)" in out, (rc, out, err)  # detected by its # EOF
    rc, out2, err = sluice("export", "--data-dir", d2)
    assert rc == 0 and out2 == state["export"], (rc, err)


def api(d, path, params):
    url = f"http://127.0.0.1:{d.http_port}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode())


def test_daemon_serves_imported_values_and_lock_refuses_import():
    with Sluiced(SLUICED, data_dir=DATA) as d:
        # Every step lands on a sample time, so each point is that sample exactly.
        body = api(d, "/api/v1/query_range", {
            "query": "room_temperature_celsius", "start": START_MS / 1000,
            "end": END_MS / 1000, "step": "15s"})
        assert body["status"] == "success", body
        (series,) = body["data"]["result"]
        pts = {int(round(float(t) * 1000)): float(v) for t, v in series["values"]}
        want = {k[2]: v for k, v in expected.items() if k[0] == "room_temperature_celsius"}
        assert pts.keys() == want.keys(), (len(pts), len(want))
        assert all(bits(pts[t]) == bits(want[t]) for t in want)

        body = api(d, "/api/v1/query_range", {
            "query": "edge_values", "start": START_MS / 1000,
            "end": (START_MS + (len(SPECIALS) - 1) * STEP_MS) / 1000, "step": "15s"})
        (series,) = body["data"]["result"]
        vals = [float(v) for _, v in series["values"]]
        assert len(vals) == len(SPECIALS) and all(same(a, b) for a, b in zip(vals, SPECIALS)), \
            vals

        body = api(d, "/api/v1/query_range", {
            "query": 'http_requests_total{method="POST"}', "start": START_MS / 1000,
            "end": END_MS / 1000, "step": "60s"})
        (series,) = body["data"]["result"]
        assert series["metric"]["path"] == ODD_PATH, series["metric"]

        rc, out, err = sluice("query", "--url", f"http://127.0.0.1:{d.http_port}",
                              "--time", str(END_MS / 1000), "room_temperature_celsius")
        assert rc == 0 and 'room_temperature_celsius{room="lab"}' in out and "(1 series)" in out, \
            (rc, out, err)
        last = expected[("room_temperature_celsius", (("room", "lab"),), END_MS)]
        assert float(out.split("\n")[1].split()[1]) == last, out

        rc, out, err = sluice("query", "--url", f"http://127.0.0.1:{d.http_port}",
                              "--start", str((END_MS - 120000) / 1000), "--end",
                              str(END_MS / 1000), "--step", "60s", "sum(edge_values) or vector(1)")
        assert rc == 0 and "(1 series, 3 points)" in out, (rc, out, err)

        rc, out, err = sluice("query", "--url", f"http://127.0.0.1:{d.http_port}", "rate(")
        assert rc == 1 and "bad_data" in err, (rc, out, err)

        rc, out, err = sluice("import", "--data-dir", DATA, IN_PATH)
        assert rc == 1, (rc, out, err)
        assert "is in use" in err and os.path.join(DATA, "LOCK") in err, err

        rc, out, err = sluice("inspect", DATA)
        assert rc == 0 and "head: not read (a running sluiced holds" in out, (rc, out, err)

        second = subprocess.run([SLUICED, "--data-dir", DATA, "--http", "127.0.0.1:0",
                                 "--statsd", "127.0.0.1:0"], capture_output=True, text=True,
                                timeout=30)
        assert second.returncode != 0, second
        assert "is in use" in second.stderr and "LOCK" in second.stderr, second.stderr


def test_missing_dir_is_named():
    missing = os.path.join(work.name, "nope")
    rc, out, err = sluice("export", "--data-dir", missing)
    assert rc == 1 and f"data directory {missing}: does not exist" in err, (rc, err)
    rc, out, err = sluice("inspect", missing)
    assert rc == 1 and missing in err and "does not exist" in err, (rc, err)


def test_permission_denied_is_named():
    d = os.path.join(work.name, "noperm")
    os.mkdir(d, 0)
    prefix = []
    if os.geteuid() == 0:  # root ignores modes: drop to nobody for this one command
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to test permissions as root"
        prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    for args in (["export", "--data-dir", d], ["import", "--data-dir", d, "-"]):
        p = subprocess.run(prefix + [SLUICE, *args], capture_output=True, text=True, timeout=60,
                           input=INPUT)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        assert f"data directory {d}: Permission denied" in p.stderr, p.stderr
    os.chmod(d, 0o700)


def first_block(d):
    return os.path.join(d, sorted(n for n in os.listdir(d) if re.fullmatch(r"b-[0-9a-f]{16}", n))[0])


def test_corrupt_block_is_named_by_inspect():
    d = os.path.join(work.name, "again")
    blk = first_block(d)
    with open(os.path.join(blk, "data"), "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xff]))
    rc, out, err = sluice("inspect", d)
    assert rc == 1, (rc, out, err)
    assert f"block {blk}/data" in err and "corrupt" in err.lower(), err
    assert "head: not read" in out, out


def test_foreign_format_version_is_named():
    d = os.path.join(work.name, "v2")
    rc, _, err = sluice("import", "--data-dir", d, IN_PATH)
    assert rc == 3, err
    blk = first_block(d)
    with open(os.path.join(blk, "data"), "r+b") as f:
        f.seek(8)
        f.write(b"\x09")
    rc, out, err = sluice("inspect", d)
    assert rc == 1 and f"block {blk}/data: format version" in err, (rc, err)
    rc, out, err = sluice("export", "--data-dir", d)
    assert rc == 1 and "format version this build does not read" in err and blk in err, (rc, err)


check("import_reports_bad_lines_and_summary", test_import_reports_bad_lines_and_summary)
check("import_strict_stops_at_first_bad_line", test_import_strict_stops_at_first_bad_line)
check("inspect_shows_blocks_and_totals", test_inspect_shows_blocks_and_totals)
check("export_matches_input_bit_for_bit", test_export_matches_input_bit_for_bit)
check("export_match_and_range_select", test_export_match_and_range_select)
check("reimport_of_export_is_identical", test_reimport_of_export_is_identical)
check("daemon_serves_imported_values_and_lock_refuses_import",
      test_daemon_serves_imported_values_and_lock_refuses_import)
check("missing_dir_is_named", test_missing_dir_is_named)
check("permission_denied_is_named", test_permission_denied_is_named)
check("corrupt_block_is_named_by_inspect", test_corrupt_block_is_named_by_inspect)
check("foreign_format_version_is_named", test_foreign_format_version_is_named)
work.cleanup()
sys.exit(checks.finish())
