#!/usr/bin/env bash
# Opens an HTML page the way a reader would, in headless Chromium (Debian's `chromium`) at
# 1280 px, and checks that nothing scrolls sideways: prints the page's scroll width
# against the window's, writes a screenshot, and exits 1 when the page is wider.
#   ci/html-check.sh PAGE.html SCREENSHOT.png [HEIGHT]
set -euo pipefail
page=$(realpath "$1")
shot=$2
height=${3:-2400}
profile=$(mktemp -d)
probe=$(mktemp --suffix=.html -p "$(dirname "$page")")
trap 'rm -rf "$profile" "$probe"' EXIT
chrome() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,"$height" --hide-scrollbars "$@" 2>/dev/null
}
# A copy of the page that writes its own scroll width into the DOM once laid out.
sed 's#</body>#<script>document.body.setAttribute("data-scroll-width", document.documentElement.scrollWidth)</script></body>#' \
    "$page" >"$probe"
width=$(chrome --dump-dom "file://$probe" | grep -o 'data-scroll-width="[0-9]*"' | grep -o '[0-9]*')
chrome --screenshot="$shot" "file://$page" >/dev/null
echo "html-check: $1: scroll width $width px in a 1280 px window; screenshot $shot"
[[ $width -le 1280 ]]
