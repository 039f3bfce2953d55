/**
 * `tidemark start` (`npm start`): the whole suite on embedded backends, no cloud account.
 * Writes a demo config and lake on first run, watches the lake folder (a file that finished
 * writing is a "finalize" event), delivers events through the in-process bus with retries and
 * a dead-letter list, and loads through the same engine and handler as the deployed function.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import type { Command } from 'commander';
import { watch } from 'chokidar';
import { Cron } from 'croner';
import { createLocalSuite, deliverFinalizeEvent } from '../../runtime/local-suite.ts';
import type { AuditReport } from '../../core/audit.ts';
import { commitTables } from '../../core/commit.ts';
import { diffAudit } from '../audit-diff.ts';
import type { AuditMemory } from '../audit-diff.ts';
import { localPathTime } from '../../core/status.ts';
import { createStatusPageHandler } from '../../status-page/handler.ts';
import { serveLocally } from '../../status-page/serve.ts';
import { deadLettersFor } from './status.ts';
import { listAll } from '../../core/listing.ts';
import { OBJECT_FINALIZED } from '../../events/storage-event.ts';
import { isIgnoredObjectName } from '../../routing/router.ts';
import { createLogger } from '../../log.ts';
import type { Logger } from '../../log.ts';
import { clip, formatBytes } from '../format.ts';
import { commandLine, configPath, DEMO_CONFIG, localPaths, openLocalEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { removeDemo, writeDemo } from '../demo.ts';
import { curlExample, startLocalIngest } from '../../runtime/local-ingest.ts';
import type { LocalIngest } from '../../runtime/local-ingest.ts';
import type { LocalBus } from '../../backends/local/bus.ts';
import type { LocalEngine } from '../../runtime/local.ts';
import { LockHeldError, withFileLock } from '../../backends/local/file-lock.ts';

export const FINALIZE_TOPIC = 'local-object-finalized';

export function registerStartCommand(program: Command, host: CommandHost): void {
  program
    .command('start')
    .description('run the suite locally: demo lake, folder watcher, loader (what `npm start` runs)')
    .option('--no-watch', 'process what is there, then exit')
    .option('--reset', 'delete the demo (config, lake, warehouse) and start a fresh one')
    .option('--ingest-port <port>', 'port of the local ingestion endpoint (streams:); 0 picks a free one', '8788')
    .action(host.run((ctx, opts: { watch: boolean; reset?: boolean; ingestPort: string }) => runStart(ctx, opts)));
}

/** Human-readable lines for what the engine logs. */
export function narrator(ctx: CliContext): Logger {
  const time = () => new Date().toISOString().slice(11, 19);
  const pacedAt = new Map<string, number>();
  return createLogger(
    (e) => {
      const f = e as Record<string, unknown>;
      const where = f.table && f.partition ? `${String(f.table)}$${String(f.partition)}` : '';
      if (e.message === 'partition loaded') {
        ctx.out(
          `${time()}  loaded   ${where.padEnd(22)} ${f.objects} file(s), ${f.rows ?? '?'} rows, ${formatBytes(Number(f.bytesRead ?? 0))} read from ${f.sourceBucket}${Number(f.quarantined) ? `, ${f.quarantined} quarantined` : ''}${String(f.reason ?? '').startsWith('backfill') ? `  <- ${String(f.reason).replace('-', ': ')}` : ''}`,
        );
      } else if (e.message === 'partition emptied') {
        ctx.out(`${time()}  emptied  ${where.padEnd(22)} its source objects are gone`);
      } else if (e.message === 'file quarantined') {
        ctx.out(
          clip(
            `${time()}  QUARANTINED ${String(f.object)}: ${String(f.error)}`,
            200,
            'full text: tidemark quarantine --json',
          ),
        );
      } else if (f.errorType === 'BudgetExhaustedError' || f.budgetWait === true) {
        const key = String(f.table ?? '');
        if (Date.now() - (pacedAt.get(key) ?? 0) > 30_000)
          ctx.out(`${time()}  waiting  ${String(e.message).replace(/^will be retried: /, '')}`);
        pacedAt.set(key, Date.now());
      } else if (e.message === 'backfill requested' || /^backfill .*: (loaded|emptied)$/.test(e.message)) {
        // the 'loaded' line above already says it
      } else if (e.severity === 'ERROR' || (e.severity === 'WARNING' && ctx.options.verbose)) {
        ctx.err(`${time()}  ${e.severity} ${e.message}${where ? ` (${where})` : ''}`);
      } else if (ctx.options.verbose) {
        ctx.out(`${time()}  ${e.message} ${JSON.stringify(f)}`);
      }
    },
    {},
    'DEBUG',
  );
}

/**
 * One `tidemark start` per lake: it holds `<lake>/.tidemark/start.lock` while it runs (a crashed
 * one's lock goes stale within seconds). A second one on the same lake says who runs and exits 1.
 */
async function runStart(
  ctx: CliContext,
  opts: { watch: boolean; reset?: boolean; ingestPort?: string },
): Promise<number> {
  const paths = localPaths(ctx);
  try {
    return await withFileLock(paths.startLockFile, () => runStartLocked(ctx, opts), {
      waitMs: 0,
      holder: `tidemark start in ${ctx.cwd}`,
    });
  } catch (err) {
    if (!(err instanceof LockHeldError) || err.lockPath !== paths.startLockFile) throw err;
    ctx.err(
      `tidemark start is already running on the lake ${paths.lakeDir} (${err.holder ?? 'holder unknown'}); stop it first, or use another --lake`,
    );
    return 1;
  }
}

async function runStartLocked(
  ctx: CliContext,
  opts: { watch: boolean; reset?: boolean; ingestPort?: string },
): Promise<number> {
  const paths = localPaths(ctx);
  const file = configPath(ctx);
  if (opts.reset) {
    if (!file.endsWith(DEMO_CONFIG.split('/').join(sep))) {
      ctx.err(`--reset deletes the demo only; ${file} is your own config`);
      return 2;
    }
    removeDemo(file, paths);
    ctx.out('Removed the demo config, lake and warehouse.');
  }
  let fresh: Awaited<ReturnType<typeof writeDemo>> | null = null;
  if (!existsSync(file)) {
    if (!file.endsWith(DEMO_CONFIG.split('/').join(sep))) {
      ctx.err(`config ${file} not found`);
      return 2;
    }
    ctx.out(
      `No tidemark.config.yaml here: writing a demo config to ${relative(ctx.cwd, file)} and a demo lake to ${relative(ctx.cwd, paths.lakeDir)}/`,
    );
    mkdirSync(dirname(file), { recursive: true });
    const demo = await writeDemo(file, paths.lakeDir);
    ctx.out(
      `  ${Object.entries(demo.objects)
        .map(([t, o]) => `${o.length} ${t} files`)
        .join(', ')} (one of them, ${demo.corrupt}, is corrupt on purpose)`,
    );
    fresh = demo;
  }
  const config = readConfig(ctx);
  const log = narrator(ctx);
  const engine = await openLocalEngine(ctx, config, log, 'tidemark start');
  for (const t of config.tables) await engine.warehouse.ensureTable(t.spec);
  // The deployed topology in one process: backfill and audit topics served by the functions' handlers.
  const suite = createLocalSuite(engine, { deadLetterFile: paths.deadLetterFile, subscribeAudit: true });
  const bus = suite.bus;
  // Each audit prints what changed since the previous one; the page shows the whole picture.
  let seen: AuditMemory | null = null;
  const zoneOf = new Map(config.tables.map((t) => [t.name, t.source.timeZone]));
  bus.subscribe(config.topics.auditResults, async (msg) => {
    const diff = diffAudit(seen, msg.json() as AuditReport, (t, p) => localPathTime(p, zoneOf.get(t) ?? 'UTC'));
    seen = diff.memory;
    const time = new Date().toISOString().slice(11, 19);
    ctx.out(diff.lines.length ? diff.lines.map((l) => `${time}  ${l}`).join('\n') : `${time}  audit: no change`);
  });

  let handled = 0;
  const unsubscribe = bus.subscribe(
    FINALIZE_TOPIC,
    async (msg) => {
      if ((await deliverFinalizeEvent(engine, bus, FINALIZE_TOPIC, msg.json())) === 'handled') handled++;
    },
    { maxDeliveryAttempts: 20, minBackoffMs: 500, maxBackoffMs: 30_000, concurrency: 4 },
  );
  const publishObject = (bucket: string, name: string, generation: string, size: number) =>
    bus.publish(FINALIZE_TOPIC, [
      {
        specversion: '1.0',
        id: `${bucket}/${name}#${generation}`,
        type: OBJECT_FINALIZED,
        source: `//storage.googleapis.com/projects/_/buckets/${bucket}`,
        data: { bucket, name, generation, size: String(size) },
      },
    ]);

  // Commit-mode dml tables: what the steps below queued is committed at once (the tick would take up to a period).
  const commitNow = async () => {
    if (config.tables.some((t) => t.commit.mode === 'dml')) await commitTables(engine, { now: true });
  };
  const buckets = [...new Set(config.tables.map((t) => t.source.bucket))];
  if (fresh) {
    // The demo's history: every object is delivered as if it had just arrived...
    let initial = 0;
    for (const bucket of buckets) {
      for await (const o of listAll(engine.store, bucket, '')) {
        if (engine.router.route(bucket, o.name).kind !== 'routed') continue;
        await publishObject(bucket, o.name, o.generation, o.size);
        initial++;
      }
    }
    ctx.out(`Loading the demo's history: ${initial} object(s) delivered as finalize events...`);
    await bus.drain();
    await commitNow();
    // ...then holes appear while nothing is watching, as they do in production.
    ctx.out(
      `\nMaking holes on purpose (no events for these):\n${fresh
        .punchHoles()
        .map((h) => `  - ${h}`)
        .join('\n')}`,
    );
  }
  // Audit now (it finds what events missed), then on the schedule the Cloud Scheduler job gets.
  ctx.out(`\nAuditing now, then on "${config.audit.schedule}" (${config.audit.timeZone})...`);
  await bus.publish(config.topics.audit, [{}], { origin: 'start' });
  await bus.drain(); // the audit, and the backfills it published
  await commitNow();
  if (fresh) {
    ctx.out('\nAuditing again, now that the backfills ran...');
    await bus.publish(config.topics.audit, [{}], { origin: 'start' });
    await bus.drain();
  }
  const schedule = new Cron(config.audit.schedule, { timezone: config.audit.timeZone, protect: true }, async () => {
    await bus.publish(config.topics.audit, [{}], { origin: 'schedule' });
  });

  // Printed with the flags in effect, so each line works when pasted.
  const hints = [
    ...(config.tables[0]
      ? [
          commandLine(ctx, [
            'query',
            `SELECT count(*) FROM ${config.tables[0].spec.ref.dataset}.${config.tables[0].spec.ref.table}`,
          ]),
        ]
      : []),
    commandLine(ctx, ['status']),
    commandLine(ctx, ['quarantine']),
    commandLine(ctx, ['config', 'check']),
  ];
  ctx.out(
    `\nWarehouse: ${relative(ctx.cwd, paths.warehouseFile)}   Lake: ${relative(ctx.cwd, paths.lakeDir)}/<bucket>/<object>`,
  );
  ctx.out(`Look at it:   ${hints.join('\n              ')}`);
  if (!opts.watch) {
    schedule.stop();
    unsubscribe();
    suite.close();
    await engine.close();
    return 0;
  }

  const watcher = watch(paths.lakeDir, {
    ignoreInitial: true,
    awaitWriteFinish: { stabilityThreshold: 400, pollInterval: 100 },
    ignored: (p: string) => {
      const rel = relative(paths.lakeDir, p).split(sep);
      return rel.slice(1).join('/').startsWith(config.state.prefix) || rel.some((s) => s.startsWith('.'));
    },
  });
  const onFile = (p: string) => {
    const rel = relative(paths.lakeDir, p).split(sep);
    if (rel.length < 2) return;
    const [bucket, ...rest] = rel;
    const name = rest.join('/');
    if (isIgnoredObjectName(name)) return;
    const st = statSync(p, { bigint: true });
    ctx.out(`${new Date().toISOString().slice(11, 19)}  arrived  ${bucket}/${name}`);
    void publishObject(bucket!, name, st.ctimeNs.toString(), Number(st.size));
  };
  watcher.on('add', onFile).on('change', onFile);
  const page = await serveLocally(
    createStatusPageHandler({
      status: engine,
      log,
      deadLetters: () => deadLettersFor(ctx, config),
      // The same messages as `tidemark reload`/`backfill`, handled here by the backfill handler.
      publishBackfills: async (messages) => {
        await bus.publish(config.topics.backfill, messages, { origin: 'status-page' });
        await bus.drain();
      },
      access: { mode: 'local' },
    }),
    Number(ctx.env.TIDEMARK_STATUS_PORT ?? 8787),
  );
  ctx.out(`\nStatus page: ${page.url}  (every table, partition, file and job; reload and backfill from there)`);
  ctx.out(
    `\nWatching ${relative(ctx.cwd, paths.lakeDir)}/ for new files. Drop one in (e.g. under ${buckets[0]}/) and it loads within seconds.`,
  );
  const ingest = config.streams.length ? await startIngest(ctx, engine, bus, Number(opts.ingestPort ?? 8788)) : null;
  ctx.out(`Next audit: ${schedule.nextRun()?.toISOString() ?? 'never'}. Ctrl-C stops.`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  ctx.out('\nStopping: finishing deliveries in flight...');
  schedule.stop();
  await ingest?.close();
  await page.close();
  await watcher.close();
  unsubscribe();
  await Promise.race([bus.drain(), new Promise((r) => setTimeout(r, 5_000))]);
  suite.close();
  await engine.close();
  ctx.out(`Stopped cleanly (${handled} event(s) handled).`);
  return 0;
}

/** Serves the streams' ingestion endpoint (a free port if `port` is taken) and prints how to post. */
async function startIngest(ctx: CliContext, engine: LocalEngine, bus: LocalBus, port: number): Promise<LocalIngest> {
  const ingest = await startLocalIngest(engine, bus, { port }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    return startLocalIngest(engine, bus, { port: 0 });
  });
  const [stream] = engine.config.streams;
  ctx.out(
    `\nIngestion: POST ${ingest.url}/v1/streams/<stream>/events (streams: ${engine.config.streams.map((s) => s.name).join(', ')}); files every ${stream!.files.localMaxDurationMs / 1000} s, then loaded. Try:`,
  );
  const example =
    stream!.name === 'locations'
      ? {
          device_id: 'dev-1',
          lat: 37.5665,
          lon: 126.978,
          accuracy: 5,
          event_time: new Date().toISOString().slice(0, 19) + 'Z',
        }
      : {};
  ctx.out(`  ${curlExample(ingest.url, stream!.name, example)}`);
  return ingest;
}
