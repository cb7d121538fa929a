"""Noticing that the nodes something depends on have left the ROS graph.

A goal's server, the speech node of a session being transcribed, the manager of a session
being recorded: each is known by the gids of its publishers when the work began. When none of
them is in the graph any more (a process stopped or crashed; a restarted one has other gids
and knows nothing of the work) for ``wait`` seconds, the work is gone with them. The wait
rides out discovery flapping; a SIGKILLed process leaves the graph only when its DDS lease
runs out (about 20 s with Fast DDS's defaults).
"""


class Departures:
    """Per key: the publishers (gids) serving it when it began, and since when all are gone."""

    def __init__(self, wait):
        self.wait = wait
        self._serving = {}
        self._missing_since = {}

    def note(self, key, present):
        """``present`` (gids) serve ``key`` from now on, unless it is noted already."""
        self._serving.setdefault(key, set(present))

    def gone(self, key, present, now):
        """Whether every publisher that served ``key`` has been missing from ``present`` (the
        graph's gids now) for ``wait`` s; False for a key served by none."""
        serving = self._serving.get(key)
        if not serving or serving & present:
            self._missing_since.pop(key, None)
            return False
        return now - self._missing_since.setdefault(key, now) >= self.wait

    def forget(self, key):
        self._serving.pop(key, None)
        self._missing_since.pop(key, None)

    def keys(self):
        return list(self._serving)


def publisher_gids(node, topic):
    """The gids of the publishers of ``topic`` (resolved as ``node`` would) in the graph."""
    return {bytes(info.endpoint_gid)
            for info in node.get_publishers_info_by_topic(node.resolve_topic_name(topic))}
