"""Let idle OpenMP threads sleep instead of spin: CLIPDraw shares 2 cores with the session.

torch's OpenMP threads busy-wait between parallel regions by default. When other processes
(the ROS nodes, the recorder, speech recognition) compete for the 2 cores, a spinning thread
holds a core that the thread doing the work needs: on this machine, with a load average of
~6, ViT-B/32's forward+backward for 2 images took 5.9 s with the default policy and 1.5 s
with OMP_WAIT_POLICY=PASSIVE (2 threads; 0.9 s with 1 thread). It only takes effect if set
before torch is first imported, so entry points call this first (the ``dream`` command for
every verb, ``dream run`` included; the launch file sets it for every node); a value already
in the environment wins. Whisper (CTranslate2) gains too: in ``dream bench hearing`` the
speech node's decode during the silence wait took ~2.2 s beside the capture and VAD nodes
with spinning threads, ~1.6 s with sleeping ones.
"""
import os
import sys


def prefer_passive_openmp():
    """Set OMP_WAIT_POLICY=PASSIVE unless set; return the policy torch will use."""
    if 'torch' not in sys.modules:
        os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return os.environ.get('OMP_WAIT_POLICY', 'default (torch was imported first)')
