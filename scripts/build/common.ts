/** What every part of the build shares: the platform's facts and the build's one error class. */

export type Env = Record<string, string | undefined>;

/** The one package a bundle may import at run time; the buildpack installs it. */
export const FRAMEWORK = '@google-cloud/functions-framework';

/** What the platform's Node runtime is. */
export const NODE_MAJOR = 22;

/** A failure the build reports as one clear message, without a stack. */
export class BuildError extends Error {
  override readonly name = 'BuildError';
}
