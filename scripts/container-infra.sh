#!/usr/bin/env bash
# Container infrastructure for sagelift's image and container tests, on Debian 12 (root or sudo).
#
#   scripts/container-infra.sh install   apt-install what is missing, write containers.conf, print env
#   scripts/container-infra.sh env       print the environment to use (eval "$(... env)")
#   scripts/container-infra.sh check     exit 0 when everything is installed and podman runs
#
# No Docker engine and no public registry are assumed: podman runs with runc, base images are
# built offline with mmdebstrap, and a local docker-registry stands in for ECR.
set -euo pipefail

PACKAGES=(podman runc mmdebstrap docker-registry busybox-static apache2-utils uidmap)
CACHE_DIR="${SAGELIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sagelift}"
CONF_FILE="$CACHE_DIR/containers.conf"

log() { printf 'container-infra: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    log "need root (or passwordless sudo) to run: $*"
    exit 3
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || printf '%s\n' "$pkg"
  done
}

write_conf() {
  mkdir -p "$CACHE_DIR"
  # default_ulimits = []: the default nproc/nofile ulimits cannot be applied inside an
  # unprivileged sandbox; runc: crun is podman's default and fails here.
  local tmp="$CONF_FILE.tmp.$$"
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$tmp"
  mv -f "$tmp" "$CONF_FILE"
}

print_env() {
  printf 'export CONTAINERS_CONF=%q\n' "$CONF_FILE"
  printf 'export SAGELIFT_CONTAINER_CLI=podman\n'
  printf 'export SAGELIFT_PODMAN_RUNTIME=runc\n'
}

cmd_install() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq </dev/null
    as_root apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" </dev/null >&2
  else
    log "all packages present: ${PACKAGES[*]}"
  fi
  write_conf
  log "wrote $CONF_FILE"
  print_env
}

cmd_check() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "missing: ${missing[*]} (run: scripts/container-infra.sh install)"
    exit 1
  fi
  [ -f "$CONF_FILE" ] || { log "missing $CONF_FILE (run: scripts/container-infra.sh install)"; exit 1; }
  CONTAINERS_CONF="$CONF_FILE" podman --runtime runc info --format '{{.Host.OCIRuntime.Name}}' >/dev/null
  log "ok"
}

case "${1:-}" in
  install) cmd_install ;;
  env) print_env ;;
  check) cmd_check ;;
  *)
    printf 'usage: %s install|env|check\n' "$0" >&2
    exit 2
    ;;
esac
