# SPDX-License-Identifier: Apache-2.0
"""Prometheus remote write 1.0 bodies, built by hand: a tiny protobuf encoder for
prometheus.WriteRequest and snappy block compression.

Snappy comes from Debian's python3-snappy when it is importable; otherwise the body is a
valid snappy block made only of literals (the format allows it: a varint length, then
literal elements), so the tests run on a machine without it and every receiver that
implements snappy decodes the bytes the same way.
"""
import struct
import urllib.error
import urllib.request

try:
    import snappy as _snappy  # Debian python3-snappy
except ImportError:  # pragma: no cover - depends on the machine
    _snappy = None

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num, data):
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _bytes(x):
    return x if isinstance(x, bytes) else x.encode()


def encode_label(name, value):
    return _field_bytes(1, _bytes(name)) + _field_bytes(2, _bytes(value))


def encode_sample(value, ts_ms):
    """Sample{double value=1; int64 timestamp=2}; value may be a float or raw 64-bit int
    bits (int) so NaN payloads go through exactly."""
    bits = value if isinstance(value, int) and not isinstance(value, bool) else None
    raw = struct.pack("<Q", bits) if bits is not None else struct.pack("<d", float(value))
    return b"\x09" + raw + b"\x10" + _varint(int(ts_ms))


def encode_series(labels, samples, exemplars=0):
    """labels: list of (name, value) in the order to send (the caller sorts them);
    samples: list of (value, ts_ms)."""
    out = bytearray()
    for n, v in labels:
        out += _field_bytes(1, encode_label(n, v))
    for v, t in samples:
        out += _field_bytes(2, encode_sample(v, t))
    for _ in range(exemplars):
        ex = (_field_bytes(1, encode_label("trace_id", "abc")) + b"\x11"
              + struct.pack("<d", 1.0) + b"\x18" + _varint(1))
        out += _field_bytes(3, ex)
    return bytes(out)


def encode_request(series):
    """series: list of (labels, samples) or pre-encoded bytes."""
    out = bytearray()
    for s in series:
        out += _field_bytes(1, s if isinstance(s, bytes) else encode_series(*s))
    return bytes(out)


def snappy_compress(data):
    if _snappy is not None:
        return _snappy.compress(data)
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def series_from_dict(labels, samples):
    """Sorted label list from a dict (remote write wants names sorted)."""
    return (sorted(labels.items()), samples)


def post(port, body, compress=True, headers=None, timeout=60):
    """POST a body to /api/v1/write; return (status, response text)."""
    data = snappy_compress(body) if compress else body
    h = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
         "X-Prometheus-Remote-Write-Version": "0.1.0"}
    if headers is not None:
        h = headers
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/write", data=data,
                                 method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
