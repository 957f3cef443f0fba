#!/usr/bin/env bash
# Re-fetch the vendored front-end files (backend/app/web/static/vendor/) from npm at their
# pinned versions. Each tarball is checked against its recorded sha512 integrity before
# anything is copied, so a re-run reproduces the committed files byte for byte. A developer
# tool: nothing runs it at build or run time, and the app never loads these from a CDN.
#
# To update a package: change its version and integrity below (integrity from
# `npm view <pkg>@<version> dist.integrity`), run this script, update vendor/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=backend/app/web/static/vendor

# package|version|integrity|files (paths inside the tarball's package/, space-separated)
PINS=(
  "htmx.org|2.0.11|sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==|LICENSE dist/htmx.min.js"
  "swagger-ui-dist|5.35.0|sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==|LICENSE NOTICE swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png"
  "redoc|2.5.4|sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==|LICENSE bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt"
)

command -v npm >/dev/null || { echo "npm is needed (Node.js)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for pin in "${PINS[@]}"; do
  IFS='|' read -r package version integrity files <<<"$pin"
  tarball=$(cd "$work" && npm pack --silent "${package}@${version}" | tail -n 1)
  # The same digest npm records: "sha512-" + base64 of the tarball's SHA-512.
  actual="sha512-$(node -e 'const c=require("crypto"),fs=require("fs");
    process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' \
    "$work/$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "${package}@${version}: integrity mismatch" >&2
    echo "  expected $integrity" >&2
    echo "  got      $actual" >&2
    exit 1
  fi
  mkdir -p "$work/$package"
  tar -xzf "$work/$tarball" -C "$work/$package"
  rm -rf "${VENDOR:?}/$package"
  mkdir -p "$VENDOR/$package"
  for file in $files; do
    # Flat layout: dist/htmx.min.js becomes vendor/htmx.org/htmx.min.js.
    cp "$work/$package/package/$file" "$VENDOR/$package/$(basename "$file")"
  done
  grep -qF "$integrity" "$VENDOR/README.md" 2>/dev/null \
    || echo "note: $VENDOR/README.md does not list ${package}@${version} ($integrity) yet" >&2
  echo "${package}@${version}: $files"
done
