// cdk-nag's AwsSolutions and Serverless packs on the SAM-transformed
// template (policy/transform.py), read with CfnInclude:
//
//   node policy/nag.js TEMPLATE.json policy/suppressions.json
//
// Exits 1 on any finding (error or warning) that policy/suppressions.json
// does not list with its reason, and on a suppression that no longer
// matches a finding (so the list never outlives what it excuses).
'use strict';

const fs = require('fs');
const { App, Stack } = require('aws-cdk-lib');
const { CfnInclude } = require('aws-cdk-lib/cloudformation-include');
const { AwsSolutionsChecks, ServerlessChecks } = require('cdk-nag');

const [templateFile, suppressionsFile] = process.argv.slice(2);
if (!templateFile || !suppressionsFile) {
  console.error('usage: node policy/nag.js TEMPLATE.json SUPPRESSIONS.json');
  process.exit(2);
}

const app = new App();
const stack = new Stack(app, 'Chat');
new CfnInclude(stack, 'Template', { templateFile });
const prefix = 'Chat/Template/';

// Each suppression: the resource's logical ID, the finding's rule ID (with
// its [finding] part where cdk-nag gives one), and why it is accepted.
const suppressions = JSON.parse(fs.readFileSync(suppressionsFile, 'utf8'));
let bad = 0;
for (const s of suppressions) {
  if (!s.resource || !s.id || !s.reason || s.reason.length < 20) {
    console.error(`suppression without a resource, rule or reason: ${JSON.stringify(s)}`);
    bad++;
  }
}
const key = (resource, id) => `${resource} ${id}`;
const suppressed = new Map(suppressions.map((s) => [key(s.resource, s.id), s]));
const used = new Set();

let findings = 0;
let total = 0;
for (const pack of [new AwsSolutionsChecks(), new ServerlessChecks()]) {
  const report = pack.validateScope(app);
  for (const v of report.violations) {
    for (const r of v.violatingResources) {
      total++;
      const id = r.constructPath.startsWith(prefix) ? r.constructPath.slice(prefix.length) : r.constructPath;
      const k = key(id, v.ruleName);
      if (suppressed.has(k)) {
        used.add(k);
        continue;
      }
      findings++;
      console.log(`${v.severity.toUpperCase()} ${v.ruleName} on ${id}: ${v.description}`);
    }
  }
}
for (const [k] of suppressed) {
  if (!used.has(k)) {
    console.log(`STALE suppression ${k}: no such finding any more; remove it`);
    bad++;
  }
}
console.log(`cdk-nag (AwsSolutions, Serverless): ${total} findings, ${used.size} suppressed with a reason, ${findings} not`);
process.exit(findings > 0 || bad > 0 ? 1 : 0);
