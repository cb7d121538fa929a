"""What the pen drew, kept as polylines, and written out as PNG (Pillow) and SVG (vpype)."""
import io
import pathlib
from dataclasses import dataclass, field
from typing import List

import numpy as np


@dataclass
class Sheet:
    """A sheet of paper: its size and the pen-down polylines drawn on it, in mm."""

    width: float = 210.0
    height: float = 297.0
    pen_width: float = 0.5
    lines: List[tuple] = field(default_factory=list)   # (pen, rgba, (n, 2) array)

    def add(self, pen, color, points):
        pts = np.asarray(points, dtype=np.float64)
        if len(pts) >= 2:
            self.lines.append((int(pen), tuple(color), pts.copy()))

    @property
    def length(self):
        return float(sum(np.hypot(*np.diff(p, axis=0).T).sum() for _, _, p in self.lines))

    def write_png(self, path, px_per_mm=4.0):
        from PIL import Image, ImageDraw
        size = (max(1, int(round(self.width * px_per_mm))),
                max(1, int(round(self.height * px_per_mm))))
        image = Image.new('RGB', size, 'white')
        draw = ImageDraw.Draw(image)
        width = max(1, int(round(self.pen_width * px_per_mm)))
        for _, color, pts in self.lines:
            rgb = tuple(int(round(255 * c)) for c in color[:3])
            xy = [tuple(p) for p in (pts * px_per_mm).tolist()]
            draw.line(xy, fill=rgb, width=width, joint='curve')
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        return path

    def svg_text(self):
        import vpype as vp
        to_px = 96.0 / 25.4
        doc = vp.Document(page_size=(self.width * to_px, self.height * to_px))
        layers = {}
        for pen, color, pts in self.lines:
            layers.setdefault(pen, (color, []))[1].append((pts[:, 0] + 1j * pts[:, 1]) * to_px)
        for pen, (color, lines) in sorted(layers.items()):
            lc = vp.LineCollection(lines)
            lc.set_property(vp.METADATA_FIELD_COLOR, vp.Color(*(int(round(255 * c))
                                                                for c in color[:3])))
            lc.set_property(vp.METADATA_FIELD_PEN_WIDTH, self.pen_width * to_px)
            doc.add(lc, pen + 1)
        out = io.StringIO()
        vp.write_svg(out, doc, page_size=(self.width * to_px, self.height * to_px),
                     color_mode='layer', set_date=False)
        return out.getvalue()

    def write_svg(self, path):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.svg_text())
        return path
