/**
 * `--backend gcp` needs Google credentials. Checked once, up front, by the CLI: without them every
 * command fails at once with one line saying what is missing and how to fix it, instead of a
 * client probing the GCE metadata server for half a minute or a stack trace from a rejected stub.
 */
import { TidemarkError } from '../core/errors.ts';
import type { Env } from './context.ts';

/** No usable Application Default Credentials. Permanent: the user must log in or point to a key. */
export class MissingCredentialsError extends TidemarkError {
  readonly permanent = true;
}

const HOW_TO_FIX =
  'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file';

/**
 * True when this process may be on Google Cloud (where credentials come from the metadata
 * server): a serverless runtime's variables, a GCE BIOS or MAC, or METADATA_SERVER_DETECTION
 * saying so. Elsewhere the metadata server is not probed at all.
 */
export function mayUseMetadataServer(env: Env, onGce: () => boolean): boolean {
  const detection = env.METADATA_SERVER_DETECTION?.trim().toLowerCase();
  if (detection === 'none') return false;
  if (detection === 'assume-present' || detection === 'ping-only') return true;
  return ['K_SERVICE', 'FUNCTION_NAME', 'CLOUD_RUN_JOB'].some((k) => !!env[k]) || onGce();
}

/**
 * Resolves when Application Default Credentials are there (GOOGLE_APPLICATION_CREDENTIALS, the
 * gcloud ADC file, or the metadata server on Google Cloud); otherwise throws
 * MissingCredentialsError with one line. Reads files only; off Google Cloud, no network.
 */
export async function checkGcpCredentials(env: Env): Promise<void> {
  const { GoogleAuth, gcpMetadata } = await import('google-auth-library');
  const probe = mayUseMetadataServer(env, () => gcpMetadata.isGoogleComputeEngine());
  // GoogleAuth asks the metadata server last, after the key file and the gcloud ADC file; off
  // Google Cloud that probe only waits for a timeout, so this check skips it.
  class Auth extends GoogleAuth {
    override async _checkIsGCE(): Promise<boolean> {
      return probe ? super._checkIsGCE() : false;
    }
  }
  try {
    await new Auth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] }).getApplicationDefault();
  } catch (err) {
    const keyFile = env.GOOGLE_APPLICATION_CREDENTIALS;
    const reason = firstLine(err instanceof Error ? err.message : String(err));
    throw new MissingCredentialsError(
      keyFile
        ? `--backend gcp: cannot use GOOGLE_APPLICATION_CREDENTIALS=${keyFile} (${reason.replace(/^Unable to read the credential file specified by the GOOGLE_APPLICATION_CREDENTIALS environment variable: /, '')}); fix the path, or unset it and run \`gcloud auth application-default login\``
        : `--backend gcp: no Google Cloud credentials found (GOOGLE_APPLICATION_CREDENTIALS is not set and there are no application default credentials); ${HOW_TO_FIX}`,
      { keyFile },
      { cause: err },
    );
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
