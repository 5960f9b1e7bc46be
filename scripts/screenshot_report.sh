#!/usr/bin/env bash
# Screenshot of a training report in headless Chromium (Debian's `chromium` package:
#   apt-get update && apt-get install -y chromium).
# Usage: scripts/screenshot_report.sh [REPORT_HTML] [OUTPUT_PNG] [WIDTHxHEIGHT]
# Default: out/demo/report.html (written by `w2v-dist run pipelines/demo.toml`) -> docs/report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
report=${1:-out/demo/report.html}
png=${2:-docs/report.png}
size=${3:-1400,2300}
[ -f "$report" ] || { echo "no $report: run 'w2v-dist run pipelines/demo.toml' first" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --window-size="${size/x/,}" \
    --screenshot="$(realpath -m "$png")" "file://$(realpath "$report")" 2>/dev/null
echo "wrote $png"
