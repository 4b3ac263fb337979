'use strict';
// Stage-wide throttling of the REST API, which osls has no setting for: every method of the stage gets the rate
// and burst of the stage's params, and request/response data tracing off (osls sets the same from
// provider.logs.restApi; this keeps it off). serverless.yml runs it after `serverless deploy` (hook
// after:deploy:deploy), after osls's own stage update, with the same credentials chain (environment, or
// --aws-profile). AWS_ENDPOINT_URL, if set, sends every call elsewhere (the deploy rehearsal points it at moto).

const {
  APIGatewayClient,
  GetRestApisCommand,
  UpdateStageCommand,
} = require('@aws-sdk/client-api-gateway');

const USAGE = `usage: node scripts/stage_settings.cjs <region> <rest-api-name> <stage> <rate-limit> <burst-limit> [<aws-profile>]

Set stage-wide throttling (<rate-limit> requests per second, a token bucket of <burst-limit>) on every method of
the stage <stage> of the REST API named <rest-api-name>, and turn request/response data tracing off.
<aws-profile>, when given and not empty, is used as AWS_PROFILE.`;

async function findRestApi(client, name) {
  let position;
  do {
    const page = await client.send(new GetRestApisCommand({ position, limit: 500 }));
    const found = (page.items || []).find((item) => item.name === name);
    if (found) return found;
    position = page.position;
  } while (position);
  throw new Error(`REST API ${name} not found`);
}

async function main(args) {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (args.length < 5 || args.length > 6) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const [region, apiName, stageName, rateLimit, burstLimit, profile] = args;
  if (profile) process.env.AWS_PROFILE = profile;
  const client = new APIGatewayClient({ region });
  const restApi = await findRestApi(client, apiName);
  await client.send(
    new UpdateStageCommand({
      restApiId: restApi.id,
      stageName,
      patchOperations: [
        { op: 'replace', path: '/*/*/throttling/rateLimit', value: String(rateLimit) },
        { op: 'replace', path: '/*/*/throttling/burstLimit', value: String(burstLimit) },
        { op: 'replace', path: '/*/*/logging/dataTrace', value: 'false' },
      ],
    }),
  );
  console.log(
    `stage ${stageName} of ${apiName}: throttling ${rateLimit} rps, burst ${burstLimit}; data tracing off`,
  );
}

main(process.argv.slice(2)).catch((error) => {
  console.error(`stage settings: ${error.message}`);
  process.exit(1);
});
