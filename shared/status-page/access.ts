/**
 * Who is calling the status page, and whether they may act (reload, backfill). Reading is open
 * to whoever reaches the page: the deployed function allows no unauthenticated calls, so Cloud
 * Run (or IAP) has already checked `roles/run.invoker` before a request gets here. Acting needs
 * more: the caller must be listed in `statusPage.operators` (user:, serviceAccount: or domain:).
 * Locally (`npm start`) the page is on localhost and everything is allowed.
 *
 * The identity comes from headers the platform sets after verifying the caller:
 * `X-Goog-Authenticated-User-Email` (IAP, `accounts.google.com:alice@example.com`), else the
 * email claim of the bearer ID token Cloud Run verified for the invoker check (read, not
 * verified again here: an unverified token never reaches the function).
 */

export type PageAccess = { mode: 'local' } | { mode: 'deployed'; operators: readonly string[] };

export type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The caller's email from the platform's headers, or null. Pure. */
export function callerEmail(h: Headers): string | null {
  const iap = header(h, 'x-goog-authenticated-user-email');
  if (iap) return iap.replace(/^accounts\.google\.com:/, '').toLowerCase();
  const auth = header(h, 'authorization');
  const m = auth && /^Bearer\s+[^.]+\.([^.]+)\.[^.]*$/i.exec(auth.trim());
  if (!m) return null;
  try {
    const claims = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { email?: unknown };
    return typeof claims.email === 'string' ? claims.email.toLowerCase() : null;
  } catch {
    return null;
  }
}

/** Whether a caller may act. Pure; tested as a table. */
export function mayAct(access: PageAccess, email: string | null): boolean {
  if (access.mode === 'local') return true;
  if (!email) return false;
  return access.operators.some((op) => {
    const [kind, value] = [op.slice(0, op.indexOf(':')), op.slice(op.indexOf(':') + 1).toLowerCase()];
    if (kind === 'domain') return email.endsWith(`@${value}`);
    return (kind === 'user' || kind === 'serviceAccount') && email === value;
  });
}
