/**
 * The alerts, declared from describeAlerts (shared/deploy/alerts.ts): one log-based metric per
 * LogMetric (counter or distribution of the extracted value, labels extracted per table) and,
 * when `alerts.notificationChannels` is set, one alert policy per AlertPolicy. Metrics Google
 * already keeps (the dead-letter subscription's backlog) need no resource.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import type { AlertsDescription, LogMetric } from '../shared/deploy/alerts.ts';

/** Declares the log-based metrics and alert policies. */
export function declareAlerts(
  alerts: AlertsDescription,
  ctx: { project: string; opts: pulumi.CustomResourceOptions },
): void {
  const metrics: Record<string, gcp.logging.Metric> = {};
  for (const m of alerts.metrics) {
    if (m.kind !== 'log') continue;
    metrics[`logging.googleapis.com/user/${m.name}`] = new gcp.logging.Metric(
      `metric-${m.name}`,
      {
        project: ctx.project,
        name: m.name,
        description: m.description,
        filter: m.filter,
        metricDescriptor: {
          metricKind: 'DELTA',
          valueType: m.metricKind === 'counter' ? 'INT64' : 'DISTRIBUTION',
          unit: m.unit,
          labels: Object.keys(m.labels).map((key) => ({ key, valueType: 'STRING' })),
        },
        labelExtractors: m.labels,
        ...distribution(m),
      },
      ctx.opts,
    );
  }
  for (const p of alerts.policies) {
    const builtin = alerts.metrics.find((m) => m.kind === 'builtin' && m.name === p.metric);
    // A log-based metric's series carry the resource of the log entries it counts.
    const filter = builtin ? builtin.filter : `metric.type="${p.metric}" AND resource.type="cloud_run_revision"`;
    const metric = metrics[p.metric];
    if (!builtin && !metric)
      throw new Error(`alert policy "${p.name}" watches ${p.metric}, which describeAlerts does not describe`);
    new gcp.monitoring.AlertPolicy(
      `alert-${p.name.replace(/^tidemark: /, '').replace(/[^a-z0-9]+/gi, '-')}`,
      {
        project: ctx.project,
        displayName: p.name,
        combiner: 'OR',
        conditions: [
          {
            displayName: p.name,
            conditionThreshold: {
              filter,
              aggregations: [{ alignmentPeriod: `${p.alignmentSeconds}s`, perSeriesAligner: p.aligner }],
              comparison: p.comparison,
              thresholdValue: p.threshold,
              duration: `${p.durationSeconds}s`,
            },
          },
        ],
        notificationChannels: p.notificationChannels,
        documentation: { content: p.documentation, mimeType: 'text/markdown' },
      },
      { ...ctx.opts, dependsOn: metric ? [metric] : [] },
    );
  }
}

/**
 * A distribution's value extractor and buckets. The policies align with a percentile, which is
 * interpolated inside a bucket: buckets 10% wide keep a 6 h threshold from firing at 5 h.
 * 1.1^150 ≈ 1.6e6 (18 days in seconds; larger values land in the overflow bucket, still above).
 */
function distribution(m: LogMetric): Partial<gcp.logging.MetricArgs> {
  if (m.metricKind !== 'distribution') return {};
  return {
    valueExtractor: m.valueExtractor,
    bucketOptions: { exponentialBuckets: { numFiniteBuckets: 150, growthFactor: 1.1, scale: 1 } },
  };
}
