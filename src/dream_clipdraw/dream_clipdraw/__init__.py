"""CLIPDraw: a differentiable Bezier-stroke rasterizer in PyTorch and CLIP-guided optimisation of
line drawings.
"""
