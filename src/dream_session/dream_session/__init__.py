"""Session orchestration, per-session recording to rosbag2, replay, the single-process runner and
the dream command.
"""
