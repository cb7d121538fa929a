"""Defaults shared by the verbs and the pipeline, importable without torch (for `dream --help`)."""

# Strokes evaluated by leave-one-out per drawing (most ink first); sized with
# `dream bench analysis` to keep >= 60 sessions per minute with ViT-B/32 on 2 CPU cores.
IMPORTANCE_STROKES = 6
# Phrase lists ranked for "what CLIP sees".
PHRASE_LISTS = ('artists', 'movements', 'surfaces', 'mediums')
