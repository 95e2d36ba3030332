#!/usr/bin/env bash
# Installs the Debian packages plugvisor needs to build and test.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libcpp-httplib-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  catch2 libcli11-dev json-schema-test-suite
  python3 curl nodejs golang-go
  # the benchmark's reference peer (bench/go-plugin-peer): go-plugin and the
  # gRPC stack it imports but does not declare (Debian's 1.0.1-4 Depends
  # lists neither grpc, protobuf nor x/net)
  golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev
  golang-github-golang-protobuf-1-5-dev golang-golang-x-net-dev golang-google-protobuf-dev
)
if [ "${PLUGVISOR_SETUP_EXTRA:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${PLUGVISOR_SETUP_EXTRA})
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
