#!/usr/bin/env bash
# Publishes the chat page (the static files of web/) to an S3 bucket.
#
#   web/publish.sh BUCKET [WEBSOCKET_URL]
#
# Environment: ENDPOINT_URL (another S3 endpoint, e.g. moto_server or
# LocalStack), AWS_CLI (default: aws), DRY_RUN=1 (print, upload nothing).
#
# Only the page's own files go up: *.go, tests, testdata, scripts, *.md and dot
# files stay behind. Each object gets its Content-Type from its extension
# (an unknown extension is an error, never a guess) and a Cache-Control:
#
#   index.html, config.json   no-cache: the browser (and CloudFront) revalidate
#                             on every load, so a deploy shows at once; the
#                             ETag makes that a cheap 304.
#   *.js, *.css               public, max-age=300: the names carry no content
#                             hash (there is no build step), so a long max-age
#                             would mix a new index.html with old modules for
#                             as long. Five minutes bounds that window while
#                             repeat views within it cost no request.
#   images (favicon, ...)     public, max-age=86400: a stale icon breaks nothing.
#
# Order: assets first, then config.json, then index.html, so that a visitor
# never gets a page whose files are not there yet.
#
# With WEBSOCKET_URL, config.json is written as {"websocketUrl": WEBSOCKET_URL};
# without it, the config.json in the bucket is left alone. With AUTH_ISSUER
# and AUTH_CLIENT_ID (sign-in, AuthMode=jwt) it also gets
# "auth": {"issuer": AUTH_ISSUER, "clientId": AUTH_CLIENT_ID}.
set -euo pipefail

usage() {
  echo "usage: $0 BUCKET [WEBSOCKET_URL]   (env: ENDPOINT_URL, AWS_CLI, DRY_RUN=1)" >&2
  exit 2
}

bucket=${1:-}
websocket_url=${2:-}
[[ -n $bucket ]] || usage
[[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || { echo "publish: invalid bucket name: $bucket" >&2; exit 2; }

# Checked before anything is uploaded; the URL goes into JSON unescaped.
if [[ -n $websocket_url && ! $websocket_url =~ ^wss?://[A-Za-z0-9.:/_~%-]+$ ]]; then
  echo "publish: WEBSOCKET_URL must be a ws:// or wss:// URL: $websocket_url" >&2
  exit 2
fi

auth_issuer=${AUTH_ISSUER:-}
auth_client_id=${AUTH_CLIENT_ID:-}
if [[ -n $auth_issuer || -n $auth_client_id ]]; then
  if [[ ! $auth_issuer =~ ^https://[A-Za-z0-9.:/_~%-]+$ || ! $auth_client_id =~ ^[A-Za-z0-9._~-]+$ ]]; then
    echo "publish: AUTH_ISSUER must be an https:// URL and AUTH_CLIENT_ID a client ID, both or neither" >&2
    exit 2
  fi
fi

aws_cli=${AWS_CLI:-aws}
site_dir=$(cd "$(dirname "$0")" && pwd)

aws_args=()
if [[ -n ${ENDPOINT_URL:-} ]]; then
  aws_args+=(--endpoint-url "$ENDPOINT_URL")
fi

content_type() {
  case $1 in
    *.html) echo "text/html; charset=utf-8" ;;
    *.css) echo "text/css; charset=utf-8" ;;
    *.js | *.mjs) echo "text/javascript; charset=utf-8" ;;
    *.json) echo "application/json" ;;
    *.webmanifest) echo "application/manifest+json" ;;
    *.svg) echo "image/svg+xml" ;;
    *.png) echo "image/png" ;;
    *.ico) echo "image/x-icon" ;;
    *.webp) echo "image/webp" ;;
    *.txt) echo "text/plain; charset=utf-8" ;;
    *) return 1 ;;
  esac
}

cache_control() {
  case $1 in
    index.html | config.json) echo "no-cache" ;;
    *.js | *.mjs | *.css) echo "public, max-age=300" ;;
    *) echo "public, max-age=86400" ;;
  esac
}

upload() { # upload LOCAL_FILE KEY
  local file=$1 key=$2 type cache
  if ! type=$(content_type "$key"); then
    echo "publish: no Content-Type known for $key; add it to content_type in $0" >&2
    exit 1
  fi
  cache=$(cache_control "$key")
  echo "publish: s3://$bucket/$key ($type; $cache)"
  if [[ ${DRY_RUN:-} == 1 ]]; then
    return
  fi
  "$aws_cli" "${aws_args[@]}" s3 cp "$file" "s3://$bucket/$key" \
    --content-type "$type" --cache-control "$cache" --only-show-errors
}

# The page's files, as paths relative to web/.
files=()
while IFS= read -r -d '' f; do
  files+=("${f#./}")
done < <(cd "$site_dir" && find . -type f \
  ! -name '*.go' ! -name '*_test.*' ! -name '*.sh' ! -name '*.md' ! -name '.*' ! -name 'config.json' \
  ! -path './testdata/*' ! -path './.*/*' -print0 | sort -z)

for key in "${files[@]}"; do
  [[ $key == index.html ]] && continue
  upload "$site_dir/$key" "$key"
done

if [[ -n $websocket_url ]]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  if [[ -n $auth_issuer ]]; then
    printf '{"websocketUrl":"%s","auth":{"issuer":"%s","clientId":"%s"}}\n' "$websocket_url" "$auth_issuer" "$auth_client_id" >"$tmp"
  else
    printf '{"websocketUrl":"%s"}\n' "$websocket_url" >"$tmp"
  fi
  upload "$tmp" config.json
fi

upload "$site_dir/index.html" index.html
echo "publish: done"
