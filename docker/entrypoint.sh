#!/usr/bin/env bash
# Container entry: ROS 2 and our workspace in the environment, then the given command.
set -e
# shellcheck disable=SC1091
source /opt/ros/kilted/setup.bash
# shellcheck disable=SC1091
source /opt/dreaming_machine/scripts/env.sh
exec "$@"
