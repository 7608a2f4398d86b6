// SPDX-License-Identifier: Apache-2.0
// Etsy statsd backend used by sluice's benchmark harness (bench/). It is loaded by path
// from statsd's config (`backends: ["/abs/path/bench_backend.js"]`) and writes what statsd
// flushed to files the harness reads, so the harness never parses console output:
//   <state>        JSON, rewritten on every flush: flush count, last flush time, and the
//                  running totals of statsd's own counters (metrics_received,
//                  packets_received, bad_lines_seen) — the lines statsd COUNTED;
//   <state>.flushes JSON lines, one per flush, with every counter, gauge, set size and
//                  timer summary (only when benchBackend.full is true: for 100k series it
//                  would cost statsd more than the traffic itself).
'use strict';
const fs = require('fs');

exports.init = function (startupTime, config, events) {
  const cfg = config.benchBackend || {};
  const state = cfg.file;
  if (!state) {
    return false;
  }
  const totals = {flushes: 0, metrics_received: 0, packets_received: 0, bad_lines_seen: 0,
                  startup_ms: startupTime * 1000, flush_interval_ms: config.flushInterval,
                  last_flush_ms: 0, last_nonzero_flush_ms: 0};
  const write = function () {
    fs.writeFileSync(state + '.tmp', JSON.stringify(totals));
    fs.renameSync(state + '.tmp', state);
  };
  write();
  events.on('flush', function (ts, metrics) {
    const c = metrics.counters;
    const pfx = (config.prefixStats || 'statsd') + '.';
    const got = c[pfx + 'metrics_received'] || 0;
    totals.metrics_received += got;
    totals.packets_received += c[pfx + 'packets_received'] || 0;
    totals.bad_lines_seen += c[pfx + 'bad_lines_seen'] || 0;
    totals.flushes += 1;
    totals.last_flush_ms = Date.now();
    if (got > 0) {
      totals.last_nonzero_flush_ms = totals.last_flush_ms;
    }
    if (cfg.full) {
      const sets = {};
      for (const k in metrics.sets) {
        sets[k] = metrics.sets[k].size();
      }
      const rec = {ts: ts, now_ms: Date.now(), metrics_received: got,
                   counters: metrics.counters, gauges: metrics.gauges,
                   timer_data: metrics.timer_data, sets: sets};
      fs.appendFileSync(state + '.flushes', JSON.stringify(rec) + '\n');
    }
    write();
  });
  return true;
};
