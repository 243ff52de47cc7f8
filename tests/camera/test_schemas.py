"""docs/outputs.md's JSON Schemas describe what real runs write (a video run and an image run)."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = Path(__file__).resolve().parents[2] / "edgefer" / "schemas"


def schema(name):
    s = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def number(v):
    f = float(v)
    return int(f) if f.is_integer() and "." not in v else f


@pytest.fixture(scope="module", params=["video", "images", "tiled"])
def run(request, tmp_path_factory, onnx_model, crowd_clip):
    import cv2

    from edgefer.cli.main import app
    from tests.camera.conftest import read_frames

    out = tmp_path_factory.mktemp(request.param)
    # tiles with a global pass at 320 px, which misses the small faces: the tracker carries them ("carried")
    extra = ["--det-tiles", "2x2", "--det-width", "320"] if request.param == "tiled" else []
    if request.param in ("video", "tiled"):
        source = str(crowd_clip.path)
    else:
        source = str(out / "photos")
        Path(source).mkdir()
        for i, f in enumerate(read_frames(crowd_clip.path)[:3]):
            cv2.imwrite(f"{source}/p{i}.jpg", f)
    # --min-face 40: some faces are "small", so records with a reason are checked too
    r = CliRunner().invoke(app, ["infer", "--model", str(onnx_model), "--source", source, "--out", str(out / "run"),
                                 "--max-frames", "8", "--min-face", "40", *extra])
    assert r.exit_code == 0, r.output
    return out / "run"


def test_faces_jsonl_follows_its_schema(run):
    v = schema("faces")
    records = [json.loads(line) for line in (run / "faces.jsonl").read_text().splitlines()]
    assert records and any("reason" in r for r in records) and any("raw_label" in r for r in records)
    for r in records:
        v.validate(r)
    carried = [r for r in records if "carried" in r]
    assert bool(carried) == (run.parent.name.startswith("tiled"))  # only tiled runs carry boxes
    summary = json.loads((run / "summary.json").read_text())
    assert summary.get("faces_carried", 0) == len(carried)


def test_summary_follows_its_schema(run):
    schema("summary").validate(json.loads((run / "summary.json").read_text()))


def test_crowd_csv_follows_its_schema(run):
    v = schema("crowd")
    with open(run / "crowd.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        v.validate({k: number(x) for k, x in row.items()})


def test_schemas_reject_what_the_docs_exclude():
    v = schema("faces")
    good = {"frame": 0, "t": 0.0, "box": [1, 2, 3, 4], "track": 1, "label": "unknown", "score": None, "probs": None,
            "face_px": 4, "det": 0.9, "reason": "small: 4 px < --min-face 8"}
    v.validate(good)
    for bad in ({**good, "box": [1, 2, 3]}, {**good, "label": "happy"}, {**good, "reason": "because"}, {**good, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(bad)
