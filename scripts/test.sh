#!/usr/bin/env bash
# Runs the style check and every package's tests with the environment in place.
# Extra arguments go to pytest (e.g. `make test PYTEST_ARGS="-k interfaces -x"`).
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# A domain of its own, so that tests running beside another ROS graph never cross-talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 100))}"
echo "[test] flake8"
flake8 src scripts tests
echo "[test] pytest (ROS_DOMAIN_ID=$ROS_DOMAIN_ID)"
python -m pytest "$@"
