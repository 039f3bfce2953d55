/**
 * Named errors, split into permanent (acknowledge and report: retrying cannot help) and transient
 * (throw so the platform retries). `isPermanent` is the one place that rule lives.
 */

export abstract class TidemarkError extends Error {
  /** True when retrying the same input cannot succeed. */
  abstract readonly permanent: boolean;
  /** Structured fields for the log line (object, table, partition, key...). */
  readonly fields: Record<string, unknown>;
  constructor(message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.fields = fields;
  }
}

// ---- permanent: acknowledge, report -------------------------------------------------------

/** The config file is invalid. Names the file, the key path and the reason. */
export class ConfigError extends TidemarkError {
  readonly permanent = true;
  readonly file: string;
  readonly issues: { path: string; message: string }[];
  constructor(file: string, issues: { path: string; message: string }[]) {
    super(`invalid config ${file}:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n'), {
      file,
      issues,
    });
    this.file = file;
    this.issues = issues;
  }
}

/** An event (CloudEvent or Pub/Sub message) that cannot be decoded. Names the field. */
export class InvalidEventError extends TidemarkError {
  readonly permanent = true;
}

/** A backfill/reload message that is well-formed JSON but asks for something invalid. */
export class InvalidMessageError extends TidemarkError {
  readonly permanent = true;
}

/** An object matched a table's pattern but cannot be placed in a partition (bad date, wrong zone...). */
export class RouteError extends TidemarkError {
  readonly permanent = true;
}

/** A load failed for reasons no file explains (schema of the table, permissions): reported, not retried. */
export class LoadFailedError extends TidemarkError {
  readonly permanent = true;
}

/** An identifier from config or a message failed validation before reaching an API or SQL. */
export class UnsafeIdentifierError extends TidemarkError {
  readonly permanent = true;
}

// ---- transient: throw, the platform retries -------------------------------------------------

/** Another sync holds the partition (its job is running); try again later. */
export class PartitionBusyError extends TidemarkError {
  readonly permanent = false;
}

/** The table's daily job budget is spent for now; the work waits and is retried later. */
export class BudgetExhaustedError extends TidemarkError {
  readonly permanent = false;
}

/** A compare-and-swap lost (GCS 412 / BigQuery 412). Usually retried internally after re-reading. */
export class PreconditionFailedError extends TidemarkError {
  readonly permanent = false;
}

/** A backend call failed in a way that may pass (429, 5xx, network, lock held). */
export class BackendUnavailableError extends TidemarkError {
  readonly permanent = false;
}

/** A fault injected by tests to simulate a crash at a given step. */
export class SimulatedCrashError extends TidemarkError {
  readonly permanent = false;
}

/**
 * The rule: named permanent errors are acknowledged and reported; everything else, including
 * errors we do not know, is transient, so the platform retries rather than losing data.
 */
export function isPermanent(err: unknown): boolean {
  return err instanceof TidemarkError && err.permanent;
}

/** Message text of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
