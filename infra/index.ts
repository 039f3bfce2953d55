/**
 * Pulumi entry point (infra/Pulumi.yaml): reads the config (pulumi config `tidemark:config`,
 * else $TIDEMARK_CONFIG, else tidemark.config.yaml; a relative path is from the repository root,
 * as for `npm run build`) and declares the deployment. `tidemark:project`, `tidemark:region` and
 * `tidemark:lakeRegion` override the config's. `tidemark infra plan|apply` runs it through the Automation
 * API; Cloud Build runs `pulumi up` on it.
 */
import * as pulumi from '@pulumi/pulumi';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../shared/config/load.ts';
import { loadDeploySettings } from './deploy-config.ts';
import { declareTidemark } from './program.ts';

/** The repository root: a relative config path means the same file here as in `npm run build`. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const settings = new pulumi.Config('tidemark');
const file = resolve(ROOT, settings.get('config') ?? process.env.TIDEMARK_CONFIG ?? 'tidemark.config.yaml');
const loaded = loadConfig({ file, env: process.env, cwd: process.cwd() });
const project = settings.get('project') ?? loaded.project;
const config = { ...loaded, project };
const deploy = loadDeploySettings(file, { region: settings.get('region'), lakeRegion: settings.get('lakeRegion') });

export const outputs = declareTidemark(config, deploy);
