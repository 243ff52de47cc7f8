"""Sources: SRC parsing, files (whole, truncated, missing), and a live source that drops out and recovers."""

from __future__ import annotations

import logging
import time

import pytest

from edgefer.camera.clip import make_crowd_clip
from edgefer.camera.sources import (
    FrameReader,
    SourceOptions,
    SourceSpec,
    csi_pipeline,
    parse_source,
)
from edgefer.errors import EdgeferError
from tests.camera.fakes import FakeCamera, frame_number

FAST = SourceOptions(backoff_s=(0.01, 0.04), open_timeout_s=0.2, reopen_timeout_s=0.3)
LIVE = SourceSpec("fake", "camera", 0, live=True)


def test_parse_every_source_form(tmp_path):
    assert parse_source("0") == SourceSpec("0", "camera", 0, live=True)
    assert parse_source(2).target == 2
    url = parse_source("rtsp://10.0.0.2:554/stream")
    assert (url.kind, url.live, url.target) == ("url", True, "rtsp://10.0.0.2:554/stream")
    assert parse_source("http://cam.local/mjpg").kind == "url"
    csi = parse_source("csi://1")
    assert csi.kind == "csi" and csi.live
    assert csi.target == csi_pipeline(1) and csi.target.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM)")
    assert csi.target.endswith("appsink drop=true max-buffers=1 sync=false")
    assert "width=1280,height=720,framerate=60/1" in parse_source("csi://0?width=1280&height=720&fps=60").target
    gst = parse_source("v4l2src device=/dev/video0 ! videoconvert ! appsink")
    assert gst.kind == "gstreamer" and gst.target.startswith("v4l2src")
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    f = parse_source(str(video))
    assert (f.kind, f.live) == ("file", False)


@pytest.mark.parametrize("src, message", [
    ("missing.mp4", "missing.mp4: no such video file"),
    ("/dev/video97", "/dev/video97: no such camera device"),
    ("csi://front", "expected csi://N"),
    ("csi://0?iso=100", "unknown option(s) iso"),
    ("ftp://host/x.mp4", "unknown source scheme ftp://"),
    ("", "--source is empty"),
])
def test_bad_sources_are_one_line_errors(src, message):
    with pytest.raises(EdgeferError) as e:
        parse_source(src)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_file_reads_every_frame_in_order_without_drops(crowd_clip):
    with FrameReader(parse_source(str(crowd_clip.path))) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(crowd_clip.frames))
    assert frames[3].t == pytest.approx(3 / crowd_clip.fps)
    assert reader.stats.dropped == 0 and reader.stats.end == "end of file"
    assert reader.stats.size == crowd_clip.size and reader.stats.fps == pytest.approx(crowd_clip.fps)


def test_truncated_file_ends_cleanly_at_its_last_decodable_frame(tmp_path, caplog):
    clip = make_crowd_clip(tmp_path / "c.avi", n_faces=3, frames=20, size=(320, 240), face_px=(20, 40))
    data = clip.path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    with caplog.at_level(logging.WARNING), FrameReader(parse_source(str(cut))) as reader:
        frames = list(reader)
    assert 1 <= len(frames) < 20
    assert [f.index for f in frames] == list(range(len(frames)))
    assert reader.stats.end == "truncated?"
    assert "truncated" in caplog.text


def test_file_truncated_before_its_header_is_a_one_line_error(tmp_path, crowd_clip):
    cut = tmp_path / "cut.mp4"  # mp4v writes the index (moov) at the end: half a file has none
    cut.write_bytes(crowd_clip.path.read_bytes()[:20000])
    with pytest.raises(EdgeferError, match="cut.mp4: cannot open the source; OpenCV cannot decode it") as e:
        FrameReader(parse_source(str(cut))).start()
    assert "\n" not in str(e.value)


def test_live_source_that_never_opens_gives_up_with_one_line(caplog):
    cam = FakeCamera(never_opens=True)
    t0 = time.monotonic()
    with pytest.raises(EdgeferError, match=r"camera 0: cannot open the source after \d+ tries in 0.2 s"):
        FrameReader(LIVE, cam.factory, FAST).start()
    assert cam.opens >= 2 and time.monotonic() - t0 < 2.0


def test_live_source_drops_out_reopens_with_backoff_and_logs_the_gap(caplog):
    cam = FakeCamera(total=40, fail_after=15, fail_opens=2)
    got = []
    with caplog.at_level(logging.WARNING), FrameReader(LIVE, cam.factory, FAST) as reader:
        for frame in reader:
            got.append(frame_number(frame.image))
            time.sleep(0.015)  # slower than the camera: the reader must drop, not queue
    st = reader.stats
    assert cam.served == 40 and st.frames_read == 40
    assert got == sorted(got) and len(set(got)) == len(got)  # newest-first never reorders
    assert st.dropped > 0 and st.dropped + len(got) == 40  # every frame is either processed or counted
    assert got[-1] == 39  # the newest frame at the end is not lost
    first = st.gaps[0]
    assert first["attempts"] == 3  # two failed reopen attempts, then back
    assert first["seconds"] >= 0.01 + 0.02 + 0.04 - 1e-3  # back-off doubles: 10, 20, 40 ms
    assert "lost after frame 14" in caplog.text and "back after a" in caplog.text and "3 reopen attempts" in caplog.text
    assert st.end == "gave up reopening" and len(st.gaps) == 2  # at the end it never comes back


def test_reader_read_errors_inside_capture_count_as_a_dropout(caplog):
    class Flaky(FakeCamera):
        def factory(self, spec):
            cap = super().factory(spec)
            orig = cap.read

            def read():
                if self.served == 5 and not getattr(self, "raised", False):
                    self.raised = True
                    raise RuntimeError("cv2.error: broken pipe\nsecond line")
                return orig()

            cap.read = read
            return cap

    cam = Flaky(total=10, fail_after=None)
    with caplog.at_level(logging.WARNING), FrameReader(LIVE, cam.factory, FAST) as reader:
        frames = list(reader)
    assert reader.stats.frames_read == 10 and len(reader.stats.gaps) >= 1
    assert "broken pipe second line" in caplog.text  # squeezed to one line
    assert frames and frames[-1].index == 9


def test_close_stops_a_source_that_is_away():
    cam = FakeCamera(total=5, fail_after=None)
    reader = FrameReader(LIVE, cam.factory, SourceOptions(backoff_s=(0.05, 0.05)))
    reader.start()
    it = reader.frames(should_stop=lambda: cam.served >= 5)
    frames = list(it)
    assert frames  # stopped by should_stop while the reader keeps retrying
    reader.close()
    assert reader.stats.end == "stopped"


def test_a_stop_request_while_a_live_source_is_still_opening():
    cam = FakeCamera(never_opens=True)
    reader = FrameReader(LIVE, cam.factory, SourceOptions(backoff_s=(0.05, 0.2), open_timeout_s=30))
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        reader.start(should_stop=lambda: time.monotonic() - t0 > 0.2)
    assert time.monotonic() - t0 < 2.0  # not the 30 s open timeout
