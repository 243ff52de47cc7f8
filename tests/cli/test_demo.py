import json

from typer.testing import CliRunner

from edgefer.cli.main import app

runner = CliRunner()


def test_demo_runs_the_bundled_model_on_shipped_faces(tmp_path):
    r = runner.invoke(app, ["demo", "--out", str(tmp_path), "--faces", "24", "--sheet-faces", "3", "--factors", "1,4,8",
                            "--clip-faces", "6", "--clip-frames", "10"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["faces"] == 24 and list(summary["per_factor"]) == ["1", "4", "8"]
    assert summary["per_factor"]["1"]["agreement_with_sharp"] == 1.0
    for f in summary["per_factor"].values():
        assert sum(f["labels"].values()) == 24 and 0 < f["mean_confidence"] <= 1
    assert (tmp_path / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"
    assert "contact sheet:" in r.output
    # The deploy chain: export, INT8, engine or ONNX Runtime, infer on a composed crowd clip.
    chain = json.loads((tmp_path / "chain.json").read_text())
    assert (tmp_path / "export" / "fsrfer.onnx").is_file() and (tmp_path / "export" / "fsrfer.int8.onnx").is_file()
    infer = chain["infer"]
    assert infer["frames"] == chain["clip_frames"] and infer["faces"] >= 0.8 * chain["clip_faces"] * chain["clip_frames"]
    for key in ("annotated_video", "faces_jsonl", "crowd_png", "summary"):
        assert key in infer["files"] and infer["files"][key] in r.output
    if chain["runtime_model"].endswith(".onnx"):
        assert "TensorRT not found" in chain["engine"] and infer["backend"].startswith("onnxruntime")


def test_demo_bad_factors(tmp_path):
    r = runner.invoke(app, ["demo", "--out", str(tmp_path), "--factors", "0", "--no-chain"])
    assert r.exit_code == 2 and "--factors" in r.output


def test_contact_sheet_labels_say_how_much_detail_is_left():
    from edgefer.demo import detail_label

    # LFW crops are 25 px: x1 (48 px input) and x2 (24 px) carry the same detail; smaller factors shrink it
    assert detail_label(1) == detail_label(2) == "25 px (source)"
    assert [detail_label(f) for f in (3, 4, 8)] == ["16 px", "12 px", "6 px"]
