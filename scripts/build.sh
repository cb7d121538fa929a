#!/usr/bin/env bash
# Builds the colcon workspace (all packages, or those named) with the environment in place.
# Serialised with a lock so that concurrent builds cannot interleave in build/ and install/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ "$(cat "$VENV/.dream/mode" 2>/dev/null)" = wheels ]; then
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
fi
cd "$ROOT"
select=()
[ $# -gt 0 ] && select=(--packages-select "$@")
exec 9>"$ROOT/.venv/.dream/build.lock"
flock 9
colcon --log-base "$ROOT/log" build --base-paths src --symlink-install "${select[@]}" \
  --event-handlers console_cohesion- summary+ status- \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
