"""Audio capture (microphone and files), voice activity detection and utterances for the Dreaming
Machine.
"""
