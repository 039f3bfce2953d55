/**
 * Structured logging: one JSON line per entry with `severity`, `message` and fields, the shape
 * Cloud Logging reads from stdout/stderr. Locally the same lines can be pretty-printed.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  notice(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line carries `fields` too. */
  child(fields: LogFields): Logger;
}

export type LogSink = (entry: LogFields & { severity: Severity; message: string }) => void;

const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4 };

/** Writes JSON lines: WARNING and above to stderr, the rest to stdout. */
export const jsonSink: LogSink = (entry) => {
  const line = JSON.stringify(entry, replacer) + '\n';
  if (RANK[entry.severity] >= RANK.WARNING) process.stderr.write(line);
  else process.stdout.write(line);
};

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** A logger over a sink; lines below `minSeverity` are dropped. */
export function createLogger(sink: LogSink = jsonSink, base: LogFields = {}, minSeverity: Severity = 'INFO'): Logger {
  const emit = (severity: Severity, message: string, fields?: LogFields) => {
    if (RANK[severity] < RANK[minSeverity]) return;
    sink({ severity, message, ...base, ...fields });
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    notice: (m, f) => emit('NOTICE', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
    child: (fields) => createLogger(sink, { ...base, ...fields }, minSeverity),
  };
}

/** A logger that keeps entries in memory (tests, CLI summaries). */
export function memoryLogger(): Logger & { entries: (LogFields & { severity: Severity; message: string })[] } {
  const entries: (LogFields & { severity: Severity; message: string })[] = [];
  const logger = createLogger((e) => entries.push(e), {}, 'DEBUG');
  return Object.assign(logger, { entries });
}

export const silentLogger: Logger = createLogger(() => {}, {}, 'ERROR');
