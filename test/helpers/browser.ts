/**
 * A real browser for page tests: Debian's chromium driven by playwright-core. Without chromium
 * the tests skip loudly, except under CI=true where that is a failure (`.ci/run` installs it).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or null. Throws under CI=true. */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const why = `${CHROMIUM} not found: install it with \`apt-get install -y chromium\` (browser tests skipped)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${why}`);
  process.stderr.write(`\n*** SKIPPING BROWSER TESTS: ${why} ***\n\n`);
  return why;
}

/** A headless chromium with a fresh profile; close() removes the profile. */
export async function openBrowser(
  viewport = { width: 1100, height: 760 },
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'tidemark-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
