"""Overlays: sizes follow the frame, labels contrast with their chip and avoid each other, legend present."""

import numpy as np

from edgefer.camera.annotate import COLOURS, draw, overlay_scale, place_labels, text_colour
from edgefer.camera.outputs import FaceResult


def face(x, y, s, label="happiness", track=1):
    return FaceResult(box=np.array([x, y, s, s], np.float32), det=0.9, face_px=s, track=track, label=label, score=0.8)


def label_height_above(image, box, colour):
    """Rows of ``colour`` directly above the box's top edge (the label chip drawn there)."""
    x, y, w, _ = box
    _, thick = overlay_scale(image.shape[0])
    column = np.all(image[: y - thick, x + 1: x + w] == colour, axis=2).any(axis=1)
    rows = np.nonzero(column)[0]
    return int(y - thick - rows.min()) if len(rows) else 0


def test_label_height_scales_with_the_frame():
    heights = {}
    for h, w in ((1080, 1920), (480, 640)):
        frame = np.zeros((h, w, 3), np.uint8)
        box = (w // 2, h // 2, h // 10, h // 10)
        out = draw(frame, [face(*box[:3])], fps=10.0, faces_per_s=120)
        heights[h] = label_height_above(out, box, COLOURS["happiness"])
    assert 0.012 < heights[1080] / 1080 < 0.04  # readable at 1080p: the old fixed font was ~0.7 %
    assert heights[1080] > 1.6 * heights[480]


def test_text_contrasts_with_its_chip():
    assert text_colour(COLOURS["happiness"]) == (0, 0, 0) and text_colour(COLOURS["sadness"]) == (255, 255, 255)
    frame = np.full((720, 1280, 3), 255, np.uint8)  # white text would vanish here
    out = draw(frame, [face(600, 300, 80)])
    chip = out[300 - 30:300 - 2, 601:679]
    assert (np.all(chip == 0, axis=2)).sum() > 20  # black text on the yellow chip


def test_labels_never_overlap_in_a_crowd():
    rng = np.random.default_rng(0)
    boxes = np.column_stack([rng.integers(0, 1200, 200), rng.integers(20, 680, 200), np.full(200, 24), np.full(200, 24)])
    sizes = np.tile([[70.0, 16.0]], (200, 1))
    pos = place_labels(boxes.astype(np.float32), sizes, (720, 1280, 3))
    rects = np.array([[x, y, x + 70, y + 16] for p in pos if p is not None for x, y in [p]])
    assert 0 < len(rects) < 200  # some labels dropped: a dense crowd shows boxes + legend colours
    for i in range(len(rects)):
        r = rects[i]
        others = np.delete(rects, i, axis=0)
        hit = (others[:, 0] < r[2]) & (r[0] < others[:, 2]) & (others[:, 1] < r[3]) & (r[1] < others[:, 3])
        assert not hit.any()
    assert all(0 <= x <= 1280 - 70 and 0 <= y <= 720 - 16 for x, y in (p for p in pos if p is not None))


def test_legend_shows_every_class_colour():
    out = draw(np.zeros((720, 1280, 3), np.uint8), [], legend=True)
    bottom = out[-40:].reshape(-1, 3)
    for name, colour in COLOURS.items():
        assert np.all(bottom == colour, axis=1).any(), name
