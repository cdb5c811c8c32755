#!/usr/bin/env bash
# Docker for the sandboxed-run tests: install the engine and debootstrap from Debian, start
# dockerd when no engine answers (no bridge, no iptables: these machines have neither), wait
# for it, then build the local base image. Runs in a subshell, so it is safe to `source`
# (the caller's shell options are untouched) as well as to run with bash.

_mlr_docker_setup() (
  set -euo pipefail
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  fi

  if ! docker info >/dev/null 2>&1; then
    log="${MLR_DOCKERD_LOG:-/tmp/mlr-dockerd.log}"
    echo "starting dockerd (log: $log)"
    nohup dockerd --bridge=none --iptables=false >"$log" 2>&1 &
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
      echo "dockerd did not answer within 60 s; last lines of $log:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
  fi

  bash "$repo/scripts/build-base-image.sh" "${MLR_TEST_IMAGE:-mlr-python:bookworm}"
)

_mlr_docker_setup
