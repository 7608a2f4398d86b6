/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How a flushed aggregate becomes exposed samples. One function so that /metrics, the
 * store and Kafka name every StatsD series identically.
 */
#include "engine/sink.h"

#include <math.h>

#include "engine/record.h"

int sl_flush_expand(const struct sl_flush_cfg *cfg, const struct sl_flush_entry *e,
                    struct sl_flush_point *out)
{
    int n = 0;
#define PT(sfx, v) (out[n++] = (struct sl_flush_point){.suffix = (sfx), .value = (v)})
    switch (e->mtype) {
    case SL_METRIC_COUNTER:
    case SL_METRIC_EVENT:
        PT("_total", e->counter.total);
        break;
    case SL_METRIC_GAUGE:
    case SL_METRIC_SERVICE_CHECK:
        PT("", e->gauge.value);
        break;
    case SL_METRIC_TIMER:
        if (e->timer.sketch) {
            for (int i = 0; i < cfg->nquantiles; i++) {
                out[n] = (struct sl_flush_point){
                    .suffix = "",
                    .extra_label = "quantile",
                    .extra_value = cfg->quantiles[i],
                    .value = sl_ddsketch_quantile(e->timer.sketch, cfg->quantiles[i])};
                n++;
            }
            PT("_min", sl_ddsketch_min(e->timer.sketch));
            PT("_max", sl_ddsketch_max(e->timer.sketch));
        }
        PT("_sum", e->timer.total_sum);
        PT("_count", e->timer.total_count);
        break;
    case SL_METRIC_SET:
        PT("", e->set.distinct);
        break;
    default:
        break;
    }
#undef PT
    return n;
}
