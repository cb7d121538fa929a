"""Drawings rendered for measurement: square, on white, with any part re-rendered alone.

CLIP takes square images, so a drawing is scaled to fit a square and centred (padding, never
stretching). ``render_region`` renders a rectangle of that square from the strokes that touch
it, which is how leaving one stroke out costs only the area that stroke covered.
"""
from dataclasses import dataclass

import numpy as np
import torch

from dream_clipdraw.rasterizer import render


@dataclass
class SquareView:
    """Maps canvas pixels of one drawing into a square image of ``size`` pixels."""

    drawing: object
    size: int
    samples: int = 2

    def __post_init__(self):
        d = self.drawing
        longest = max(int(d.canvas_width), int(d.canvas_height), 1)
        self.scale = self.size / longest
        self.offset = np.array([(self.size - d.canvas_width * self.scale) / 2,
                                (self.size - d.canvas_height * self.scale) / 2])
        self.points = [torch.tensor(np.asarray(s.points, dtype=np.float64) * self.scale
                                    + self.offset, dtype=torch.float32)
                       for s in d.strokes]
        self.widths = torch.tensor([s.width * self.scale for s in d.strokes],
                                   dtype=torch.float32)
        self.colors = torch.tensor([list(s.color) for s in d.strokes],
                                   dtype=torch.float32).reshape(-1, 4)
        reach = self.widths.numpy()[:, None] / 2 + 1.0
        if self.points:
            lows = np.stack([p.numpy().min(0) for p in self.points]) - reach
            highs = np.stack([p.numpy().max(0) for p in self.points]) + reach
        else:
            lows = highs = np.zeros((0, 2))
        # A cubic Bezier lies inside its control points' hull: these boxes hold every stroke.
        self.boxes = np.concatenate([np.floor(lows), np.ceil(highs)], 1).clip(0, self.size)

    def stroke_box(self, index):
        """(x0, y0, x1, y1) integer pixel box holding stroke ``index``."""
        return tuple(int(v) for v in self.boxes[index])

    def render(self, keep=None):
        """(3, size, size) float image of the strokes in ``keep`` (all by default)."""
        return self.render_region((0, 0, self.size, self.size), keep)

    def render_region(self, box, keep=None):
        """(3, y1 - y0, x1 - x0): the box of the image, from the strokes in ``keep`` only."""
        x0, y0, x1, y1 = box
        chosen = range(len(self.points)) if keep is None else keep
        inside = [i for i in chosen if self.boxes[i, 0] < x1 and self.boxes[i, 2] > x0
                  and self.boxes[i, 1] < y1 and self.boxes[i, 3] > y0]
        shift = torch.tensor([x0, y0], dtype=torch.float32)
        with torch.no_grad():
            image = render([self.points[i] - shift for i in inside], self.widths[inside],
                           self.colors[inside], (y1 - y0, x1 - x0), samples=self.samples)
        return image.clamp(0, 1)

    def without(self, base, index):
        """The image with stroke ``index`` left out: ``base`` re-rendered in its box only."""
        x0, y0, x1, y1 = self.stroke_box(index)
        image = base.clone()
        if x1 > x0 and y1 > y0:
            keep = [i for i in range(len(self.points)) if i != index]
            image[:, y0:y1, x0:x1] = self.render_region((x0, y0, x1, y1), keep)
        return image


def to_uint8(image):
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8 for PIL and OCR."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def from_uint8(array):
    """(H, W, 3) uint8 -> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0
