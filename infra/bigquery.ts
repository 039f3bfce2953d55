/**
 * BigQuery datasets and tables over the v2 REST API (the injected client's `request`, like
 * BigQueryWarehouse). Missing ones are created (tables through BigQueryWarehouse.ensureTable,
 * so the runtime and infra create them alike); config labels that drifted are patched.
 * Partitioning and location cannot change in place: a mismatch is an InfraConflictError.
 */
import type { BigQuery, DatasetResource as DatasetMetadata, TableMetadata } from '@google-cloud/bigquery';
import { BigQueryWarehouse } from '../shared/backends/gcp/bigquery-warehouse.ts';
import { httpStatusOf, withRetry } from '../shared/backends/gcp/retry.ts';
import { PreconditionFailedError } from '../shared/core/errors.ts';
import type { DatasetResource, TableResource } from './desired.ts';
import { InfraConflictError } from './errors.ts';
import type { Change } from './plan.ts';

export type BigQueryResource = DatasetResource | TableResource;

type RequestOptions = Parameters<BigQuery['request']>[0];

export async function planBigQuery(r: BigQueryResource, bigquery: BigQuery, project: string): Promise<Change> {
  return r.kind === 'dataset' ? planDataset(r, bigquery, project) : planTable(r, bigquery, project);
}

export async function applyBigQuery(change: Change & { resource: BigQueryResource }, bigquery: BigQuery, project: string): Promise<void> {
  const r = change.resource;
  if (change.action === 'noop') return;
  if (r.kind === 'dataset') {
    try {
      await bigQueryRequest(bigquery, project, { method: 'POST', uri: '/datasets', json: { datasetReference: { projectId: project, datasetId: r.dataset }, location: r.location } }, `datasets.insert ${r.dataset}`);
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw err;
    }
    return;
  }
  const warehouse = new BigQueryWarehouse({ bigquery, project, location: r.location });
  if (change.action === 'create') {
    await warehouse.ensureTable(r.spec);
    return;
  }
  // Labels: etag-guarded; a concurrent label write (the loader's checkpoint) means read again.
  const labels = r.spec.labels ?? {};
  for (let attempt = 1; ; attempt++) {
    const current = await warehouse.getTableLabels(r.spec.ref);
    if (!current) throw new InfraConflictError(`table ${show(r)} disappeared while applying`, { table: show(r) });
    try {
      await warehouse.patchTableLabels(r.spec.ref, labels, current.etag);
      return;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || attempt >= 3) throw err;
    }
  }
}

async function planDataset(r: DatasetResource, bigquery: BigQuery, project: string): Promise<Change> {
  const current = await getOrNull<DatasetMetadata>(bigquery, project, `/datasets/${encodeURIComponent(r.dataset)}`, `datasets.get ${r.dataset}`);
  if (!current) return { resource: r, action: 'create', detail: `in ${r.location}` };
  if ((current.location ?? '').toUpperCase() !== r.location.toUpperCase()) {
    throw new InfraConflictError(`dataset ${r.dataset} is in ${current.location}, the config says ${r.location}; a dataset cannot move: change location or use another dataset`, { dataset: r.dataset });
  }
  return { resource: r, action: 'noop', detail: '' };
}

async function planTable(r: TableResource, bigquery: BigQuery, project: string): Promise<Change> {
  const { ref, partitioning, schema } = r.spec;
  const current = await getOrNull<TableMetadata>(bigquery, project, `/datasets/${encodeURIComponent(ref.dataset)}/tables/${encodeURIComponent(ref.table)}`, `tables.get ${show(r)}`);
  const wantPartitioning = `${partitioning.type}${partitioning.field ? ` on ${partitioning.field}` : ' (ingestion time)'}`;
  if (!current) {
    if (!schema) return { resource: r, action: 'noop', detail: 'no schema in the config: the first load creates it' };
    return { resource: r, action: 'create', detail: `${wantPartitioning}, ${schema.length} columns` };
  }
  const tp = current.timePartitioning;
  if (!tp || tp.type !== partitioning.type || (tp.field ?? undefined) !== partitioning.field) {
    const have = tp ? `${tp.type}${tp.field ? ` on ${tp.field}` : ' (ingestion time)'}` : 'none';
    throw new InfraConflictError(`table ${show(r)} is partitioned ${have}, the config says ${wantPartitioning}; partitioning cannot change in place`, { table: show(r) });
  }
  const drift = Object.entries(r.spec.labels ?? {})
    .filter(([key, value]) => current.labels?.[key] !== value)
    .map(([key, value]) => `label ${key}=${value}${current.labels?.[key] === undefined ? '' : ` (was ${current.labels[key]})`}`);
  return drift.length ? { resource: r, action: 'update', detail: drift.join(', ') } : { resource: r, action: 'noop', detail: '' };
}

async function getOrNull<T>(bigquery: BigQuery, project: string, uri: string, describe: string): Promise<T | null> {
  try {
    return await bigQueryRequest<T>(bigquery, project, { method: 'GET', uri }, describe);
  } catch (err) {
    if (httpStatusOf(err) === 404) return null;
    throw err;
  }
}

/** One BigQuery REST call in `project` (uri relative to the project), retried by withRetry alone. */
export function bigQueryRequest<T = unknown>(bigquery: BigQuery, project: string, request: RequestOptions, describe: string): Promise<T> {
  const options: RequestOptions = { ...request, projectId: project, maxRetries: 0 };
  return withRetry(
    () => new Promise<T>((resolve, reject) => bigquery.request(options, (err, body) => (err ? reject(err) : resolve(body as T)))),
    { describe },
  );
}

function show(r: TableResource): string {
  return `${r.spec.ref.dataset}.${r.spec.ref.table}`;
}
