"""Still images as a source: ``--source photo.jpg``, ``--source DIR/`` or ``--source 'shots/*.png'``.

Each image is analysed on its own (no tracking across images) by the same ``FaceAnalyzer`` as the camera
loop, and the run writes the same files: faces.jsonl (``frame`` = the image's index, ``t`` = the index too),
summary.json (with ``images``: index -> file), crowd.csv (one row per image: ``second`` = the index), and
one annotated PNG per image in ``annotated/`` at the image's own size. Privacy mode writes no PNG.
"""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path
from typing import Any

from edgefer import __version__
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_paths(source: str) -> list[Path] | None:
    """The images a ``--source`` names (sorted), or None when it names no image (a video, camera, URL...)."""
    if "://" in source or "!" in source:
        return None
    if any(c in source for c in "*?["):
        paths = sorted(Path(p) for p in glob.glob(source) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise EdgeferError(f"--source {source}: the pattern matches no image ({', '.join(IMAGE_SUFFIXES)})")
        return paths
    p = Path(source)
    if p.is_dir():
        paths = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise EdgeferError(f"--source {source}: the folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return paths
    if p.suffix.lower() in IMAGE_SUFFIXES:
        if not p.is_file():
            raise EdgeferError(f"--source {source}: no such image file")
        return [p]
    return None


def _png_names(paths: list[Path]) -> list[str]:
    """One PNG name per image: its stem, with the index in front where two stems collide (a glob over folders)."""
    stems = [p.stem for p in paths]
    dup = {s for s in stems if stems.count(s) > 1}
    return [f"{i:04d}_{s}.png" if s in dup else f"{s}.png" for i, s in enumerate(stems)]


def run_images(analyzer: Any, paths: list[Path], out: Path, save_frames: bool = True,
               source: str = "") -> dict[str, Any]:
    """Analyse every image; returns the summary (also written to ``out/summary.json``)."""
    import cv2

    from edgefer.camera.annotate import draw
    from edgefer.camera.outputs import RunOutputs

    outputs = RunOutputs(out, save_frames=save_frames, classes=analyzer.classes)
    png_dir = out / "annotated"
    if save_frames:
        png_dir.mkdir(parents=True, exist_ok=True)
    images, unreadable = [], []
    start = time.perf_counter()
    try:
        for i, (path, name) in enumerate(zip(paths, _png_names(paths))):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("%s: not a readable image, skipped", path)
                unreadable.append(str(path))
                continue
            t0 = time.perf_counter()
            faces = analyzer(image)
            seconds = time.perf_counter() - t0
            outputs.add(i, float(i), faces)
            entry: dict[str, Any] = {"frame": i, "file": str(path), "size": [image.shape[1], image.shape[0]],
                                     "faces": len(faces), "ms": round(1e3 * seconds, 1)}
            if save_frames:
                shown = draw(image, faces, faces_per_s=len(faces) / max(seconds, 1e-9), classes=analyzer.classes)
                ok, png = cv2.imencode(".png", shown)
                if not ok:
                    raise EdgeferError(f"{png_dir / name}: OpenCV cannot encode the annotated PNG")
                with atomic_path(png_dir / name) as tmp:
                    Path(tmp).write_bytes(png.tobytes())
                entry["annotated"] = str(png_dir / name)
            images.append(entry)
    finally:
        seconds = max(time.perf_counter() - start, 1e-9)
        summary = {
            "source": source, "source_kind": "images", "model": analyzer.runner.path, "backend": analyzer.runner.backend,
            "detector": analyzer.detector.describe() if hasattr(analyzer.detector, "describe") else {"name": type(analyzer.detector).__name__},
            "min_confidence": analyzer.min_confidence, "frames": len(images), "seconds": round(seconds, 3),
            "fps": round(len(images) / seconds, 3), "faces_per_s": round(outputs.faces / seconds, 3),
            "images": images, "unreadable": unreadable, "stopped": "end of images", "edgefer_version": __version__,
        }
        summary = outputs.finalise(summary)
    if not images:
        raise EdgeferError(f"--source {source}: none of the {len(paths)} images could be read")
    return summary
