/**
 * Name rules shared by the config schema (build time, CLI) and the runtime's message checks.
 * Kept apart from schema.ts so the deployed functions can use them without importing zod.
 */

/** A table's config name: used in labels, job ids, messages and state paths. */
export const TABLE_NAME = /^[a-z][a-z0-9_]{0,39}$/;
