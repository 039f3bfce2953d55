/**
 * Writes dist/deploy/: `<folder>.args` (one `gcloud` argument per line: that function's deploy
 * command), `<folder>.skip` instead for a function this config does not deploy (its one line says
 * why; the committer without a commit-mode dml table), and `after-deploy.sh`, from the function table and the config the build bundles.
 * cloudbuild.yaml runs it after the bundles and runs what it wrote; see infra/deploy-commands.ts
 * for why this happens at build time.
 *
 *   npm run deploy:manifest -- --config=tidemark.config.yaml [--project=P] [--out=dist/deploy]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../shared/config/load.ts';
import { afterDeployScript, deployCommands, skippedDeploys } from '../infra/deploy-commands.ts';
import { loadDeploySettings } from '../infra/deploy-config.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface ManifestOptions {
  config: string;
  project?: string;
  out: string;
}

/** Writes the files; returns their paths. Throws naming an argument that would not survive the one-per-line format. */
export function writeDeployManifest(opts: ManifestOptions): string[] {
  const loaded = loadConfig({ file: opts.config });
  const config = opts.project ? { ...loaded, project: opts.project } : loaded;
  const deploy = loadDeploySettings(loaded.file);
  mkdirSync(opts.out, { recursive: true });
  const written: string[] = [];
  for (const { folder, args } of deployCommands(config, deploy)) {
    const bad = args.find((a) => /[\r\n]/.test(a));
    if (bad !== undefined)
      throw new Error(`deploy argument for functions/${folder} contains a line break: ${JSON.stringify(bad)}`);
    const file = join(opts.out, `${folder}.args`);
    rmSync(join(opts.out, `${folder}.skip`), { force: true });
    writeFileSync(file, args.join('\n') + '\n');
    written.push(file);
  }
  for (const { folder, reason } of skippedDeploys(config)) {
    const file = join(opts.out, `${folder}.skip`);
    rmSync(join(opts.out, `${folder}.args`), { force: true });
    writeFileSync(file, reason + '\n');
    written.push(file);
  }
  const script = join(opts.out, 'after-deploy.sh');
  writeFileSync(script, afterDeployScript(config, deploy), { mode: 0o755 });
  written.push(script);
  return written;
}

function main(argv: string[]): number {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const config = get('config') ?? process.env.TIDEMARK_CONFIG ?? 'tidemark.config.yaml';
  const project = get('project');
  const files = writeDeployManifest({
    config: resolve(config),
    ...(project ? { project } : {}),
    out: resolve(get('out') ?? join(ROOT, 'dist', 'deploy')),
  });
  for (const f of files) process.stdout.write(`wrote ${f}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
