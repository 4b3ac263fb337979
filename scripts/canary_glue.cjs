'use strict';

// A local osls plugin (serverless.yml `plugins`, after serverless-plugin-canary-deployments): it finishes what that
// plugin starts on the stages with the canary (the `canary` param), in the same lifecycle event, after it. Without
// it, on a stage with SnapStart:
//
// - the api function would have two aliases: osls's `snapstart` (SnapStart's, moved at once to each new version)
//   and the plugin's `Live` (moved by CodeDeploy, step by step). The plugin points API Gateway's methods at `Live`
//   but leaves API Gateway's invoke permission on `snapstart` (osls names that alias in an `Fn::Join` the plugin does
//   not recognise), so every request through `Live` would be refused. Here osls's alias goes, and everything that
//   named it (the permission, the methods' DependsOn) names `Live`: one alias, the one CodeDeploy moves;
// - CodeDeploy's role would hold AWS managed policies, AWSLambda_FullAccess among them (lambda:* on every function
//   of the account): here it gets instead exactly what CodeDeploy does for this deployment group (read its alarms,
//   move the alias, invoke the hook);
// - the CodeDeploy application would get a name made up by CloudFormation: it is named as the stack;
// - the hook would run as the functions' shared role, with a codedeploy statement the plugin adds to it: here the
//   hook gets a role of its own (report to CodeDeploy, read the deployment, invoke the api function's versions, write
//   its log), and the shared role stays exactly what the application's code uses.
//
// The plugin's last release (0.8.0, with osls 3: its hook and config schema are the Serverless v3 ones osls keeps)
// predates SnapStart's alias; the pull request that taught it about such aliases (davidgf/serverless-plugin-canary-
// deployments#157) was closed unmerged. On a stage without the canary the plugin adds nothing, and neither does this. tests/deploy/test_deploy_package.py
// holds the result on dev (no canary) and prod (the canary).

const SNAPSTART_ALIAS = 'snapstart';

const isAliasUpdate = (resource) =>
  resource.Type === 'AWS::Lambda::Alias' &&
  resource.UpdatePolicy &&
  resource.UpdatePolicy.CodeDeployLambdaAliasUpdate;

const sub = (text) => ({ 'Fn::Sub': text });
const functionArn = (name) => `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${name}`;

class CanaryGlue {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.finish(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  finish() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources;
    for (const [aliasId, alias] of Object.entries(resources)) {
      if (isAliasUpdate(alias)) this.finishAlias(resources, aliasId, alias);
    }
  }

  finishAlias(resources, aliasId, alias) {
    const functionId = alias.Properties.FunctionName.Ref;
    const versionId = (alias.Properties.FunctionVersion['Fn::GetAtt'] || [])[0];
    if (!versionId || !resources[versionId]) {
      // osls publishes a version only with SnapStart (versionFunctions is false): a canary needs one.
      this.fail(
        `the canary of ${functionId} needs a published version: turn snapStart on for this stage, or the canary off ` +
          '(--param="canary=false")'
      );
    }
    const update = alias.UpdatePolicy.CodeDeployLambdaAliasUpdate;
    const functionName = resources[functionId].Properties.FunctionName;
    const groupId = update.DeploymentGroupName.Ref;
    const applicationId = update.ApplicationName.Ref;
    const hookId = update.BeforeAllowTrafficHook && update.BeforeAllowTrafficHook.Ref;

    // The application named as the stack (the plugin leaves the name to CloudFormation): the deploy role's
    // CodeDeploy statements name it (docs/deploy.md).
    resources[applicationId].Properties.ApplicationName = { Ref: 'AWS::StackName' };
    this.oneAlias(resources, functionId, aliasId);
    this.codeDeployRole(resources, resources[groupId], functionName, hookId && resources[hookId]);
    // CodeDeploy runs the hook as soon as the alias changes: the hook's new code and role must come first. The
    // update policy's `Ref` to the hook already makes the alias wait for it (cfn-lint W3005 says so of a DependsOn).
    if (hookId) this.hookRole(resources, resources[hookId], functionName, applicationId, groupId);
  }

  oneAlias(resources, functionId, aliasId) {
    const snapStartIds = Object.keys(resources).filter((id) => {
      const resource = resources[id];
      return (
        resource.Type === 'AWS::Lambda::Alias' &&
        resource.Properties.Name === SNAPSTART_ALIAS &&
        resource.Properties.FunctionName.Ref === functionId
      );
    });
    for (const snapStartId of snapStartIds) delete resources[snapStartId];
    const gone = new Set(snapStartIds);
    const namesAlias = (resource) => JSON.stringify(resource.Properties || {}).includes(`{"Ref":"${aliasId}"}`);
    for (const resource of Object.values(resources)) {
      const target = resource.Type === 'AWS::Lambda::Permission' && resource.Properties.FunctionName;
      if (target && JSON.stringify(target).includes(`"${functionId}"`)) {
        resource.Properties.FunctionName = { Ref: aliasId };
      }
      if (resource.DependsOn) {
        // What waited for osls's alias waits for this one; a `Ref` to it already does (cfn-lint W3005).
        const names = [].concat(resource.DependsOn).map((name) => (gone.has(name) ? aliasId : name));
        resource.DependsOn = [...new Set(names)].filter((name) => name !== aliasId || !namesAlias(resource));
        if (!resource.DependsOn.length) delete resource.DependsOn;
      }
    }
  }

  codeDeployRole(resources, group, functionName, hook) {
    const role = resources.CodeDeployServiceRole;
    if (!role || JSON.stringify(group.Properties.ServiceRoleArn) !== '{"Fn::GetAtt":["CodeDeployServiceRole","Arn"]}') {
      return; // a role given with custom.deploymentSettings.codeDeployRole is the operator's
    }
    const alarms = ((group.Properties.AlarmConfiguration || {}).Alarms || []).map(
      (alarm) => sub(`arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:\${${alarm.Name.Ref}}`)
    );
    const statements = [
      {
        Effect: 'Allow',
        Action: ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:GetProvisionedConcurrencyConfig'],
        Resource: [sub(functionArn(functionName)), sub(`${functionArn(functionName)}:*`)],
      },
    ];
    if (alarms.length) {
      statements.unshift({ Effect: 'Allow', Action: ['cloudwatch:DescribeAlarms'], Resource: alarms });
    }
    if (hook) {
      const hookName = hook.Properties.FunctionName;
      statements.push({
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: [sub(functionArn(hookName)), sub(`${functionArn(hookName)}:*`)],
      });
    }
    delete role.Properties.ManagedPolicyArns;
    // A name of the stack's: the deploy role may pass this role, and no other, to CodeDeploy (docs/deploy.md).
    role.Properties.RoleName = sub('${AWS::StackName}-${AWS::Region}-codeDeployRole');
    role.Properties.Policies = [
      { PolicyName: 'codedeploy-canary', PolicyDocument: { Version: '2012-10-17', Statement: statements } },
    ];
  }

  hookRole(resources, hook, functionName, applicationId, groupId) {
    const shared = resources.IamRoleLambdaExecution;
    const hookName = hook.Properties.FunctionName;
    const deploymentGroup = sub(
      `arn:\${AWS::Partition}:codedeploy:\${AWS::Region}:\${AWS::AccountId}:deploymentgroup:\${${applicationId}}/\${${groupId}}`
    );
    const statements = [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [
          sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${hookName}:*`),
        ],
      },
      {
        Effect: 'Allow',
        Action: ['codedeploy:GetDeployment', 'codedeploy:PutLifecycleEventHookExecutionStatus'],
        Resource: [deploymentGroup],
      },
      {
        Effect: 'Allow',
        Action: ['codedeploy:GetApplicationRevision'],
        Resource: [sub(`arn:\${AWS::Partition}:codedeploy:\${AWS::Region}:\${AWS::AccountId}:application:\${${applicationId}}`)],
      },
      {
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: [sub(`${functionArn(functionName)}:*`)], // its versions: the hook invokes the new one
      },
    ];
    if (shared) {
      const sharedStatements = shared.Properties.Policies[0].PolicyDocument.Statement;
      // X-Ray (the `tracing` param) has no resource-level permissions: the hook's traces need the same statement.
      for (const statement of sharedStatements) {
        if ([].concat(statement.Action).every((action) => action.startsWith('xray:'))) statements.push(statement);
      }
      // The plugin gave the shared role the hook's report; the hook reports with its own role.
      shared.Properties.Policies[0].PolicyDocument.Statement = sharedStatements.filter(
        (statement) =>
          !(
            [].concat(statement.Action).length === 1 &&
            [].concat(statement.Action)[0] === 'codedeploy:PutLifecycleEventHookExecutionStatus'
          )
      );
    }
    resources.BeforeTrafficHookRole = {
      Type: 'AWS::IAM::Role',
      Properties: {
        // Named as osls names the functions' role: the deploy role may pass these to Lambda, no other.
        RoleName: sub('${AWS::StackName}-${AWS::Region}-beforeTrafficRole'),
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] }],
        },
        Policies: [
          { PolicyName: 'before-traffic-hook', PolicyDocument: { Version: '2012-10-17', Statement: statements } },
        ],
      },
    };
    hook.Properties.Role = { 'Fn::GetAtt': ['BeforeTrafficHookRole', 'Arn'] };
    // osls made the hook wait for the functions' role, which it no longer uses.
    hook.DependsOn = [].concat(hook.DependsOn || []).filter((name) => name !== 'IamRoleLambdaExecution');
  }
}

module.exports = CanaryGlue;
