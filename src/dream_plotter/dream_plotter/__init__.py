"""Stroke planning for paper and DrawStrokes action servers: simulated plotter, GRBL and AxiDraw
drivers.
"""
