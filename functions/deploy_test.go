package functions_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/internal/testenv"
)

// stubSAM stands in for the SAM CLI: `build` succeeds; `deploy` does what
// $STUB_SAM says, against moto's CloudFormation through $STUB_AWS.
const stubSAM = `#!/usr/bin/env bash
set -euo pipefail
[[ $1 == build ]] && { echo "stub sam: build"; exit 0; }
printf '%s\n' "$@" > "$STUB_ARGS"
stack=
while (($#)); do [[ $1 == --stack-name ]] && stack=$2; shift; done
case $STUB_SAM in
fail)
  echo "Error: Failed to create/update the stack: $stack, Waiter StackUpdateComplete failed" >&2
  exit 1 ;;
decline)
  # SAM CLI exits 0 when its change set is declined at the prompt.
  echo "Previewing CloudFormation changeset before deployment"
  echo "Deploy this changeset? [y/N]: n"
  exit 0 ;;
nochange)
  echo "No changes to deploy. Stack $stack is up to date"
  exit 0 ;;
deploy)
  $STUB_AWS cloudformation create-stack --stack-name "$stack" --template-body "file://$STUB_TEMPLATE" \
    --parameters "ParameterKey=Bucket,ParameterValue=$STUB_BUCKET" "ParameterKey=Distribution,ParameterValue=$STUB_DISTRIBUTION" >/dev/null
  echo "Successfully created/updated stack - $stack"
  exit 0 ;;
esac
echo "stub sam: unknown STUB_SAM=$STUB_SAM" >&2
exit 2
`

// stackTemplate is the stand-in for template.yaml in moto: the site bucket
// and the outputs deploy.sh reads.
func stackTemplate(withDistribution bool) string {
	outputs := map[string]any{
		"SiteBucketName": map[string]any{"Value": map[string]any{"Ref": "SiteBucket"}},
		"WebSocketURL":   map[string]any{"Value": "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"},
		"SiteURL":        map[string]any{"Value": "https://d111111abcdef8.cloudfront.net"},
	}
	if withDistribution {
		outputs["SiteDistributionId"] = map[string]any{"Value": map[string]any{"Ref": "Distribution"}}
	}
	b, _ := json.Marshal(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Parameters": map[string]any{
			"Bucket":       map[string]any{"Type": "String"},
			"Distribution": map[string]any{"Type": "String"},
		},
		"Resources": map[string]any{
			"SiteBucket": map[string]any{"Type": "AWS::S3::Bucket", "Properties": map[string]any{"BucketName": map[string]any{"Ref": "Bucket"}}},
		},
		"Outputs": outputs,
	})
	return string(b)
}

// TestMakeDeploy runs `make deploy` against moto_server with a stub sam:
// a failed or declined change set, a missing output and a failed
// invalidation stop it non-zero, and only a stack that was updated (or
// had no changes) gets the page.
func TestMakeDeploy(t *testing.T) {
	awsCLI := testenv.AWSCLI(t)
	makeTool := testenv.Tool(t, "make", "install make")
	endpoint := testenv.Moto(t)
	dir := t.TempDir()

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	none := filepath.Join(dir, "none")
	env = append(env,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_DEFAULT_REGION=eu-west-1", "AWS_REGION=eu-west-1",
		"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	)
	aws := func(args ...string) ([]byte, error) {
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", endpoint, "--region", "eu-west-1", "--output", "json"}, args...)...)
		cmd.Env = env
		return cmd.Output()
	}
	mustAWS := func(args ...string) []byte {
		t.Helper()
		out, err := aws(args...)
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out = append(out, ee.Stderr...)
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	sam := filepath.Join(dir, "sam")
	full, partial := filepath.Join(dir, "stack.json"), filepath.Join(dir, "partial.json")
	for path, body := range map[string]string{sam: stubSAM, full: stackTemplate(true), partial: stackTemplate(false)} {
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var dist struct{ Distribution struct{ Id string } }
	distConfig := `{"CallerReference":"deploy-test","Comment":"","Enabled":true,` +
		`"Origins":{"Quantity":1,"Items":[{"Id":"site","DomainName":"site.s3.amazonaws.com","S3OriginConfig":{"OriginAccessIdentity":""}}]},` +
		`"DefaultCacheBehavior":{"TargetOriginId":"site","ViewerProtocolPolicy":"redirect-to-https","MinTTL":0,` +
		`"ForwardedValues":{"QueryString":false,"Cookies":{"Forward":"none"}},"TrustedSigners":{"Enabled":false,"Quantity":0}}}`
	if err := json.Unmarshal(mustAWS("cloudfront", "create-distribution", "--distribution-config", distConfig), &dist); err != nil || dist.Distribution.Id == "" {
		t.Fatalf("create-distribution: %v %+v", err, dist)
	}

	// published reports whether the stack's bucket got the page.
	published := func(bucket string) bool {
		out, err := aws("s3api", "list-objects-v2", "--bucket", bucket)
		return err == nil && strings.Contains(string(out), `"index.html"`)
	}
	invalidations := func() int {
		var list struct {
			InvalidationList struct{ Items []struct{ Id string } }
		}
		_ = json.Unmarshal(mustAWS("cloudfront", "list-invalidations", "--distribution-id", dist.Distribution.Id), &list)
		return len(list.InvalidationList.Items)
	}
	// existing creates a stack as a previous deploy left it.
	existing := func(stack, bucket, distribution string) {
		mustAWS("cloudformation", "create-stack", "--stack-name", stack, "--template-body", "file://"+full,
			"--parameters", "ParameterKey=Bucket,ParameterValue="+bucket, "ParameterKey=Distribution,ParameterValue="+distribution)
	}

	for _, c := range []struct {
		name, stub, stack, bucket string
		template, distribution    string
		exists                    bool // the stack was deployed before
		wantOK, wantPublished     bool
		wantMessage               string
	}{
		{name: "change set fails", stub: "fail", stack: "failed", bucket: "site-failed", exists: true,
			wantMessage: "sam deploy failed"},
		{name: "change set declined", stub: "decline", stack: "declined", bucket: "site-declined", exists: true,
			wantMessage: "was not updated"},
		{name: "new stack", stub: "deploy", stack: "created", bucket: "site-created", template: full,
			wantOK: true, wantPublished: true},
		{name: "no changes", stub: "nochange", stack: "current", bucket: "site-current", exists: true,
			wantOK: true, wantPublished: true},
		{name: "missing output", stub: "deploy", stack: "partial", bucket: "site-partial", template: partial,
			wantMessage: "has no SiteDistributionId output"},
		{name: "invalidation fails", stub: "deploy", stack: "noinvalidation", bucket: "site-noinvalidation", template: full,
			distribution: "E0000000000000", wantPublished: true, wantMessage: "invalidation failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			distribution := c.distribution
			if distribution == "" {
				distribution = dist.Distribution.Id
			}
			if c.exists {
				existing(c.stack, c.bucket, distribution)
			}
			before := invalidations()
			args := filepath.Join(t.TempDir(), "sam-args")
			cmd := exec.Command(makeTool, "--no-print-directory", "deploy", "ALARM_EMAIL=ops@example.com",
				"STACK_NAME="+c.stack, "DEPLOY_REGION=eu-west-1", "SAM="+sam, "AWS_CLI="+awsCLI, "ENDPOINT_URL="+endpoint)
			cmd.Dir = testenv.RepoRoot()
			cmd.Env = append(env, "STUB_SAM="+c.stub, "STUB_TEMPLATE="+c.template, "STUB_BUCKET="+c.bucket,
				"STUB_DISTRIBUTION="+distribution, "STUB_ARGS="+args, "STUB_AWS="+awsCLI+" --endpoint-url "+endpoint+" --region eu-west-1")
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != c.wantOK {
				t.Errorf("make deploy: %v, want success %v\n%s", err, c.wantOK, out)
			}
			if c.wantMessage != "" && !strings.Contains(string(out), c.wantMessage) {
				t.Errorf("make deploy said:\n%s\nwant %q", out, c.wantMessage)
			}
			if got := published(c.bucket); got != c.wantPublished {
				t.Errorf("page published: %v, want %v\n%s", got, c.wantPublished, out)
			}
			if got, want := invalidations()-before, map[bool]int{true: 1}[c.wantOK]; got != want {
				t.Errorf("%d invalidations made, want %d", got, want)
			}
			// sam deploy got dev's parameter_overrides and the alarm email
			// in one --parameter-overrides (a second would replace the first).
			b, err := os.ReadFile(args)
			if err != nil {
				t.Fatalf("sam deploy was not run: %v", err)
			}
			want := "--parameter-overrides\n" + `StageName="dev" LogLevel="DEBUG" PostWorkers="32" AlarmEmail="ops@example.com"` + "\n"
			if !strings.Contains(string(b), want) || strings.Count(string(b), "--parameter-overrides") != 1 {
				t.Errorf("sam deploy arguments:\n%s\nwant %q", b, want)
			}
		})
	}
}
