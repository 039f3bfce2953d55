/** Errors of `tidemark infra`: what is there cannot be brought to what the config asks for in place. */
import { TidemarkError } from '../shared/core/errors.ts';

/**
 * An existing resource differs in a way no update can fix (a subscription on another topic, a
 * table with other partitioning, a dataset in another location). Needs a human; never retried.
 */
export class InfraConflictError extends TidemarkError {
  readonly permanent = true;
}

/** A client the plan needs was not given (tests pass only the clients their resources use). */
export class MissingClientError extends TidemarkError {
  readonly permanent = true;
}
