"""`edgefer fleet` and `infer --publish`: what the user can get wrong fails in one line, before any network use."""

import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app

runner = CliRunner()


def one_error(args, env=None):
    r = runner.invoke(app, args, env=env)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.output
    return lines[0]


@pytest.mark.parametrize("extra, match", [
    (["--publish", "mqtt://cam:hunter2@127.0.0.1/p"], "do not put the password in the URL"),
    (["--publish", "mqtt://127.0.0.1/p", "--camera-id", "a/b"], "--camera-id 'a/b'"),
    (["--publish", "mqtt://127.0.0.1/p", "--publish-interval", "0"], "--publish-interval 0"),
    (["--publish", "mqtt://127.0.0.1/p", "--mqtt-password-file", "/nonexistent/pw"], "--mqtt-password-file /nonexistent/pw"),
    (["--publish", "ftp://127.0.0.1/p"], "expected mqtt://"),
])
def test_infer_publish_options(extra, match, tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"not decoded: the options fail first")
    line = one_error(["infer", "--source", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "o"), *extra])
    assert match in line and "hunter2" not in line


def test_infer_publish_refuses_still_images(tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"")
    line = one_error(["infer", "--source", str(img), "--out", str(tmp_path / "o"), "--publish", "mqtt://127.0.0.1/p"])
    assert "still images" in line


def test_password_in_the_environment_url_is_accepted_as_a_url(tmp_path):
    # EDGEFER_PUBLISH may hold user:password; it then fails later for another reason (here: bad camera id)
    (tmp_path / "c.mp4").write_bytes(b"not decoded: the options fail first")
    line = one_error(["infer", "--source", str(tmp_path / "c.mp4"), "--out", str(tmp_path / "o"), "--camera-id", "a+b"],
                     env={"EDGEFER_PUBLISH": "mqtt://cam:hunter2@127.0.0.1/p"})
    assert "--camera-id" in line and "hunter2" not in line


@pytest.mark.parametrize("extra, match", [
    (["--bucket", "0"], "--bucket 0"),
    (["--refresh", "-1"], "--refresh -1"),
    (["--cameras", "0"], "--cameras 0"),
    (["--client-id", "a#b"], "--client-id"),
])
def test_fleet_options(extra, match, tmp_path):
    line = one_error(["fleet", "--broker", "mqtt://127.0.0.1/p", "--out", str(tmp_path / "f"), *extra])
    assert match in line
