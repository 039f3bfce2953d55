/**
 * Runs the Pulumi program under Pulumi's mocks (no CLI, no provider plugin, no network) and
 * returns every resource it registered with its inputs: the whole graph, for assertions.
 */
import * as pulumi from '@pulumi/pulumi';
import type { Config } from '../../shared/config/types.ts';
import type { DeploySettings } from '../../infra/deploy-config.ts';
import { declareTidemark } from '../../infra/program.ts';

export const PROJECT_NUMBER = '424242';

export interface GraphResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

/** The program's resources for this config, in registration order (provider excluded). */
export function resourceGraph(config: Config, deploy: DeploySettings): Promise<GraphResource[]> {
  return graphOf(() => declareTidemark(config, deploy));
}

/** The resources `declare` registers (it may import the entry point, which declares on import). */
export async function graphOf(declare: () => unknown): Promise<GraphResource[]> {
  const resources: GraphResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        // Echo the inputs as state, with the ids and computed fields the program reads.
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'gcp:serviceaccount/account:Account')
          state.email = `${args.inputs.accountId}@${args.inputs.project}.iam.gserviceaccount.com`;
        if (args.type === 'gcp:pubsub/topic:Topic')
          return { id: `projects/${args.inputs.project}/topics/${args.inputs.name}`, state };
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        if (args.token === 'gcp:organizations/getProject:getProject')
          return { number: PROJECT_NUMBER, projectId: args.inputs.projectId };
        // Echo the policy bindings so a test can read the bucket policy's bindings back.
        if (args.token === 'gcp:organizations/getIAMPolicy:getIAMPolicy')
          return { policyData: JSON.stringify({ bindings: args.inputs.bindings }) };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    'tidemark',
    'test',
    false,
  );
  // Pulumi formats a stack trace for every promise and resource it makes (for leak reports and
  // source positions no test reads): two thirds of a graph's CPU. Unformatted while declaring; an
  // error's stack is formatted when first read, after this.
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  Error.prepareStackTrace = () => '';
  Error.stackTraceLimit = 0;
  try {
    await declare();
    // Waits for every registration, including those whose inputs wait on other resources' outputs
    // (runInPulumiStack does not under mocks); the next setMocks starts afresh.
    await pulumi.runtime.disconnect();
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
  return resources.filter((r) => !r.type.startsWith('pulumi:'));
}
