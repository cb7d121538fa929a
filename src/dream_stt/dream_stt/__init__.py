"""Speech to text with Whisper (faster-whisper): transcription and translation to English, with
confidence signals.
"""
