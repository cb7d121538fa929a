# Source me (bash): the venv, ROS 2 (wheels or system) and our workspace, ready to use.
_dream_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$_dream_root/install/setup.bash" ]; then
  echo "dream: the workspace is not built yet: run 'make setup' first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_dream_root/.venv/bin/activate"
if [ "$(cat "$_dream_root/.venv/.dream/mode" 2>/dev/null)" = wheels ]; then
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
# shellcheck disable=SC1091
source "$_dream_root/install/setup.bash"
# A public installation keeps DDS on this host unless told otherwise (see README, Security).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# torch's OpenMP threads busy-wait by default and stall badly when other processes hold the
# cores (a 3-stroke render took 301 ms instead of 9 ms under load): let them sleep.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export DREAM_ROOT="$_dream_root"
unset _dream_root
