"""Running a driver node: a SingleThreadedExecutor and a clean exit (the pen lifted)."""
import sys

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def spin_node(make_node, args=None):
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except Exception:
            if not rclpy.ok():      # stopped (SIGINT/SIGTERM) while starting up
                return 0
            raise
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGTERM shuts the context down from the signal handler; an executor caught between
        # two waits then fails to make its wait set (RCLError) instead of ending cleanly.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            try:
                node.shutdown_driver()
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                print(f'{node.get_name()}: while stopping the driver: {exc}', file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
