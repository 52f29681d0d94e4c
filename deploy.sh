#!/usr/bin/env bash
# Deploys the stack of one samconfig.toml environment, then publishes the
# page with the stack's outputs and invalidates CloudFront: `make deploy`.
#
#   ./deploy.sh            (env: DEPLOY_ENV, STACK_NAME, DEPLOY_REGION, SAM,
#                           AWS_CLI, ENDPOINT_URL, SAM_DEPLOY_FLAGS,
#                           PARAMETER_OVERRIDES, ALARM_EMAIL, ALARM_TOPIC_ARN)
#
# ALARM_EMAIL or ALARM_TOPIC_ARN is added to PARAMETER_OVERRIDES (the
# environment's parameter_overrides in samconfig.toml, which a
# --parameter-overrides on the command line would otherwise replace).
#
# It stops, non-zero and before publishing anything, when:
#   - sam build or sam deploy fails (a failed or rolled-back change set);
#   - sam deploy returns 0 but the stack was not updated: the change set was
#     declined at SAM's prompt (SAM exits 0 then) or never executed. An
#     empty change set ("No changes to deploy") is not an error: the stack
#     is current, and the page is published;
#   - the stack is not in CREATE_COMPLETE or UPDATE_COMPLETE afterwards;
#   - an output the page needs is missing (SiteBucketName, WebSocketURL,
#     SiteDistributionId, SiteURL);
# and after publishing, when the CloudFront invalidation cannot be made.
set -euo pipefail

DEPLOY_ENV=${DEPLOY_ENV:-default}
SAM=${SAM:-sam}
AWS_CLI=${AWS_CLI:-aws}
STACK_NAME=${STACK_NAME:?deploy: STACK_NAME is not set}
read -r -a sam_flags <<<"${SAM_DEPLOY_FLAGS:-}"
read -r -a aws <<<"$AWS_CLI"
[[ -n ${ENDPOINT_URL:-} ]] && aws+=(--endpoint-url "$ENDPOINT_URL")
[[ -n ${DEPLOY_REGION:-} ]] && aws+=(--region "$DEPLOY_REGION")

fail() {
  echo "deploy: $*; nothing was published" >&2
  exit 1
}

# state prints the stack's status and last change time, or NONE when there
# is no such stack. Any other error (credentials, network) stops.
state() {
  local out
  if out=$("${aws[@]}" cloudformation describe-stacks --stack-name "$STACK_NAME" --output text \
    --query 'Stacks[0].[StackStatus,LastUpdatedTime,CreationTime]' 2>&1); then
    echo "$out"
  elif [[ $out == *"does not exist"* ]]; then
    echo NONE
  else
    echo "deploy: cannot read stack $STACK_NAME: $out" >&2
    return 1
  fi
}

output() {
  local v
  v=$("${aws[@]}" cloudformation describe-stacks --stack-name "$STACK_NAME" --output text \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]")
  [[ $v == None ]] && v=
  echo "$v"
}

# samconfig.toml's value, with its TOML escapes (\") undone.
overrides=${PARAMETER_OVERRIDES:-}
overrides=${overrides//\\\"/\"}
[[ -n ${ALARM_EMAIL:-} ]] && overrides+=" AlarmEmail=\"$ALARM_EMAIL\""
[[ -n ${ALARM_TOPIC_ARN:-} ]] && overrides+=" AlarmTopicArn=\"$ALARM_TOPIC_ARN\""
override_flags=()
[[ -n ${overrides// /} ]] && override_flags=(--parameter-overrides "${overrides# }")

before=$(state) || exit 1

"$SAM" build --config-env "$DEPLOY_ENV" || fail "sam build failed"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
"$SAM" deploy --config-env "$DEPLOY_ENV" --stack-name "$STACK_NAME" \
  ${DEPLOY_REGION:+--region "$DEPLOY_REGION"} "${override_flags[@]}" "${sam_flags[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
((rc == 0)) || fail "sam deploy failed (exit $rc)"

after=$(state) || exit 1
read -r status _ <<<"$after"
if [[ $after == "$before" ]]; then
  grep -q "No changes to deploy" "$log" ||
    fail "stack $STACK_NAME was not updated (the change set was declined or not executed)"
  echo "deploy: no changes to the stack; publishing the page"
fi
case $status in
CREATE_COMPLETE | UPDATE_COMPLETE) ;;
*) fail "stack $STACK_NAME is $status" ;;
esac

declare -A out
for key in SiteBucketName WebSocketURL SiteDistributionId SiteURL AuthIssuer AuthClientId; do
  out[$key]=$(output "$key")
done
for key in SiteBucketName WebSocketURL SiteDistributionId SiteURL; do
  [[ -n ${out[$key]} ]] || fail "stack $STACK_NAME has no $key output"
done

AWS_CLI="$AWS_CLI" ENDPOINT_URL="${ENDPOINT_URL:-}" AWS_DEFAULT_REGION="${DEPLOY_REGION:-${AWS_DEFAULT_REGION:-}}" \
  AUTH_ISSUER="${out[AuthIssuer]}" AUTH_CLIENT_ID="${out[AuthClientId]}" \
  "$(dirname "$0")/web/publish.sh" "${out[SiteBucketName]}" "${out[WebSocketURL]}"

if ! id=$("${aws[@]}" cloudfront create-invalidation --distribution-id "${out[SiteDistributionId]}" \
  --paths '/*' --output text --query Invalidation.Id); then
  echo "deploy: the page is published but the CloudFront invalidation failed: visitors may get the old page until its cache expires" >&2
  exit 1
fi
echo "deploy: invalidation $id; the chat is at ${out[SiteURL]} (WebSocket API ${out[WebSocketURL]})"
