"""A node's console script: spin it on one thread until Ctrl-C or SIGTERM, then tidy up."""
import rclpy
from rclpy.executors import ExternalShutdownException


def spin_node(node_class, args=None):
    rclpy.init(args=args)
    node = node_class()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGTERM shuts the context down from the signal handler; an executor caught between
        # two waits then fails to make its wait set (RCLError) instead of ending cleanly.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
