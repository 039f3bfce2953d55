/**
 * Builds each function into its folder: bundle (bundle.ts), police (policy.ts), package
 * (package.ts), report (report.ts); and all of them, reporting every failure.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import * as esbuild from 'esbuild';
import type { Metafile } from 'esbuild';
import type { Config } from '../../shared/config/types.ts';
import { BuildError, FRAMEWORK } from './common.ts';
import { bundleOptions, buildLazyPackages, esbuildFailure, LAZY_NAMESPACE, unreachableOnNode22 } from './bundle.ts';
import type { LazyBuilds } from './bundle.ts';
import { bundleWithProjectChunks } from './project-chunks.ts';
import { CODE_CACHE_LOADER, writeCodeCaches } from './code-cache.ts';
import { discoverFunctions } from './discover.ts';
import type { FunctionEntry } from './discover.ts';
import { deployPackageJson, installedFrameworkVersion, resolveConfigForBuild, writeResolvedConfig } from './package.ts';
import {
  checkHygiene,
  describeProblems,
  forbiddenPackagesExternal,
  importChain,
  registersEntryPoint,
} from './policy.ts';
import { metafilePath, packageOf, topBy } from './report.ts';
import type { BundleResult } from './report.ts';

export interface BuildRunOptions {
  root: string;
  outdir: string;
  /** From resolveConfigFile; undefined: no config in the bundles. */
  configFile: string | undefined;
  /** resolveConfigForBuild(configFile), computed once by buildAll. */
  config?: Config;
  /** Lazy files the other functions of this build made (buildAll shares one). */
  lazyBuilds?: LazyBuilds;
}

/** Builds one function into outdir/<name>/ (the folder is replaced). */
export async function buildFunction(
  opts: BuildRunOptions,
  fn: FunctionEntry,
  frameworkVersion: string,
  version: string,
): Promise<BundleResult> {
  const dir = join(opts.outdir, fn.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lazyFound = new Map<string, string>();
  // Project modules loaded with import() go to lazy files of their own where that copies nothing (project-chunks.ts).
  const { result, chunks } = await bundleWithProjectChunks(
    opts.root,
    fn,
    dir,
    bundleOptions(opts.root, fn, dir, lazyFound),
    [forbiddenPackagesExternal, unreachableOnNode22],
  ).catch((err: unknown) => esbuildFailure(fn, err));
  const { metafile } = result;
  // Only the lazy packages whose import() survived tree shaking get a file.
  const kept = new Set(Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs)));
  for (const pkg of lazyFound.keys()) if (!kept.has(`${LAZY_NAMESPACE}:${pkg}`)) lazyFound.delete(pkg);
  const lazy = await buildLazyPackages(opts.root, dir, lazyFound, opts.lazyBuilds).catch((err: unknown) =>
    esbuildFailure(fn, err),
  );

  const problems = checkHygiene(metafile, fn.entry);
  for (const l of lazy) {
    // Report a lazy package's problems with the chain through the import() that loads it.
    const importer = Object.entries(metafile.inputs).find(([, i]) =>
      i.imports.some((imp) => imp.path === `${LAZY_NAMESPACE}:${l.pkg}`),
    )?.[0];
    const via = [
      ...(importer ? (importChain(metafile, fn.entry, importer) ?? [importer]) : [fn.entry]),
      `import('${l.pkg}') -> ${l.file}`,
    ];
    for (const p of checkHygiene(l.metafile, l.entry)) problems.push({ ...p, chain: [...via, ...p.chain] });
  }
  for (const c of chunks) {
    const importer = Object.entries(metafile.inputs).find(([, i]) =>
      i.imports.some((imp) => imp.path === `tidemark-chunk:${c.module}`),
    )?.[0];
    const via = [
      ...(importer ? (importChain(metafile, fn.entry, importer) ?? [importer]) : [fn.entry]),
      `import('${c.module}') -> ${c.file}`,
    ];
    for (const p of checkHygiene(c.metafile, c.module)) problems.push({ ...p, chain: [...via, ...p.chain] });
  }
  if (problems.length) throw new BuildError(describeProblems(fn, problems));
  // After the policy checks: making the caches runs the lazy files' top levels.
  const caches = lazy.length
    ? writeCodeCaches(
        dir,
        lazy.map((l) => l.file),
      )
    : [];

  if (!registersEntryPoint(readFileSync(join(dir, 'index.js'), 'utf8'), fn.entryPoint)) {
    throw new BuildError(
      `functions/${fn.name}: the bundle does not register "${fn.entryPoint}" (expected cloudEvent('${fn.entryPoint}', ...) in ${fn.entry}); ` +
        `the deploy uses --entry-point=${fn.entryPoint}, derived from the folder name.`,
    );
  }

  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      deployPackageJson(
        fn,
        version,
        frameworkVersion,
        lazy.map((l) => l.file),
      ),
      null,
      2,
    ) + '\n',
  );
  const config = opts.config ?? (opts.configFile ? resolveConfigForBuild(opts.configFile) : undefined);
  const configFiles = config ? [writeResolvedConfig(config, dir, opts.root)] : [];

  const inDir = (out: string) => relative(dir, resolve(opts.root, out)).split(sep).join('/');
  const sizeOf = (m: Metafile, ext: string) =>
    Object.entries(m.outputs).reduce((n, [out, o]) => n + (out.endsWith(ext) ? o.bytes : 0), 0);
  const eager = sizeOf(metafile, '.js');
  const warnings = (await esbuild.formatMessages(result.warnings, { kind: 'warning' })).map((w) => w.trim());
  const byInput = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const o of Object.values(metafile.outputs)) {
    for (const [input, i] of Object.entries(o.inputs)) {
      byInput.set(input, (byInput.get(input) ?? 0) + i.bytesInOutput);
      byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + i.bytesInOutput);
    }
  }
  for (const l of lazy) {
    if (byPackage.has(l.pkg))
      warnings.push(
        `${l.pkg} is imported both statically and with import(): the import() loads a second copy (${l.file}); make every import of it one kind`,
      );
  }
  const lazySizes = lazy.map((l) => ({ pkg: l.pkg, file: l.file, bytes: sizeOf(l.metafile, '.cjs') }));
  const chunkSizes = chunks.map((c) => ({ module: c.module, file: c.file, bytes: sizeOf(c.metafile, '.cjs') }));
  const bytes = {
    eager,
    total: eager + [...lazySizes, ...chunkSizes].reduce((n, l) => n + l.bytes, 0),
    maps: sizeOf(metafile, '.map') + [...lazy, ...chunks].reduce((n, l) => n + sizeOf(l.metafile, '.map'), 0),
  };
  const outputs = [
    ...Object.keys(metafile.outputs),
    ...[...lazy, ...chunks].flatMap((l) => Object.keys(l.metafile.outputs)),
  ].map(inDir);
  const legal = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.LEGAL.txt'));
  const bundle: BundleResult = {
    fn,
    dir,
    bytes,
    inputs: topBy(byInput, 'path', 20),
    packages: topBy(byPackage, 'name', 20),
    lazy: lazySizes,
    chunks: chunkSizes,
    files: [
      ...new Set([
        ...outputs,
        ...legal.map((f) => f.split(sep).join('/')),
        'package.json',
        ...configFiles,
        ...(lazy.length ? [CODE_CACHE_LOADER] : []),
        ...caches.map((c) => c.file),
      ]),
    ].sort(),
    warnings,
  };
  const report = {
    function: fn.name,
    entryPoint: fn.entryPoint,
    format: 'cjs',
    framework: `${FRAMEWORK}@${frameworkVersion} (external, installed by the buildpack)`,
    bytes,
    topInputs: bundle.inputs,
    topPackages: bundle.packages,
    lazyPackages: lazySizes,
    projectChunks: chunkSizes,
    codeCaches: caches,
    files: bundle.files,
    warnings,
  };
  writeFileSync(join(dir, 'bundle-report.json'), JSON.stringify(report, null, 2) + '\n');
  // The whole metafile (index.js and the lazy files merged), beside the deployed folder, not in
  // it: for the tests and for esbuild's bundle analyzer.
  const merged: Metafile = { inputs: { ...metafile.inputs }, outputs: { ...metafile.outputs } };
  for (const l of [...lazy, ...chunks]) {
    Object.assign(merged.inputs, l.metafile.inputs);
    Object.assign(merged.outputs, l.metafile.outputs);
  }
  writeFileSync(metafilePath(opts.outdir, fn), JSON.stringify(merged));
  return bundle;
}

/** Builds every discovered function. */
export async function buildAll(opts: BuildRunOptions): Promise<BundleResult[]> {
  const fns = discoverFunctions(opts.root);
  if (!fns.length) throw new BuildError(`no functions: no functions/<name>/index.ts under ${opts.root}`);
  const frameworkVersion = installedFrameworkVersion(opts.root);
  const version = (JSON.parse(readFileSync(join(opts.root, 'package.json'), 'utf8')) as { version: string }).version;
  // Validate the config once, before any bundling: a config the functions would refuse fails here.
  const config = opts.configFile ? resolveConfigForBuild(opts.configFile) : undefined;
  mkdirSync(opts.outdir, { recursive: true });
  // Build them all, then report every failure, not only the first.
  const lazyBuilds: LazyBuilds = new Map();
  const settled = await Promise.allSettled(
    fns.map((fn) =>
      buildFunction({ ...opts, lazyBuilds, ...(config ? { config } : {}) }, fn, frameworkVersion, version),
    ),
  );
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length) {
    const plain = failures.every((f) => f instanceof BuildError);
    throw plain ? new BuildError(failures.map((f) => (f as BuildError).message).join('\n\n')) : failures[0];
  }
  return settled.map((s) => (s as PromiseFulfilledResult<BundleResult>).value);
}
