"""Blocking action execute callbacks for nodes spun by a SingleThreadedExecutor.

A blocking execute callback would hold the node's only executor thread, so cancel requests
(and everything else) would wait until the goal ended. ``offloaded(node, blocking)`` returns
an ``async`` execute callback that runs ``blocking(handle)`` in a worker thread and awaits
it: meanwhile the executor serves the node (``handle.is_cancel_requested`` stays current).
dream_clipdraw holds the same few lines (the two packages do not depend on each other).
"""
import threading

from rclpy.task import Future


def offloaded(node, blocking, name='action-execute'):
    async def execute(handle):
        future = Future()

        def work():
            try:
                future.set_result(blocking(handle))
            except BaseException as exc:  # noqa: BLE001 - re-raised by the await below
                future.set_exception(exc)
            finally:
                executor = node.executor   # resume the awaiting coroutine now
                if executor is not None:
                    try:
                        executor.wake()
                    except Exception:  # noqa: BLE001 - the executor was shut down meanwhile
                        pass

        threading.Thread(target=work, name=name, daemon=True).start()
        return await future
    return execute
