from pathlib import Path

import pytest

from edgefer.errors import EdgeferError
from edgefer.fleet.url import PASSWORD_ENV, USERNAME_ENV, parse_broker


def test_parse_defaults_and_prefix():
    b = parse_broker("mqtt://broker.local/site/a/edgefer", environ={})
    assert (b.host, b.port, b.prefix, b.tls, b.username, b.password) == ("broker.local", 1883, "site/a/edgefer", False, None, None)
    assert parse_broker("mqtts://h:9999/p/", environ={}).port == 9999
    assert parse_broker("mqtts://h/p", environ={}).port == 8883
    assert parse_broker("mqtts://h/p", environ={}).tls


def test_password_comes_from_env_or_file_never_the_command_line(tmp_path):
    with pytest.raises(EdgeferError, match="not put the password in the URL") as e:
        parse_broker("mqtt://cam:s3cret@h/p", environ={})
    assert "s3cret" not in str(e.value)
    assert parse_broker("mqtt://cam:s3cret@h/p", from_env=True, environ={}).password == "s3cret"
    b = parse_broker("mqtt://cam@h/p", environ={PASSWORD_ENV: "pw"})
    assert (b.username, b.password) == ("cam", "pw")
    f = tmp_path / "pw.txt"
    f.write_text("from-file\nignored\n")
    assert parse_broker("mqtt://cam@h/p", password_file=f, environ={PASSWORD_ENV: "env"}).password == "from-file"
    assert parse_broker("mqtt://h/p", environ={USERNAME_ENV: "u", PASSWORD_ENV: "pw"}).username == "u"
    with pytest.raises(EdgeferError, match="no user name"):
        parse_broker("mqtt://h/p", environ={PASSWORD_ENV: "pw"})


@pytest.mark.parametrize("url, match", [
    ("http://h/p", "expected mqtt://"),
    ("mqtt://h", "topic prefix"),
    ("mqtt://h:99999/p", "port"),
    ("mqtt://h/p/+", "topic level"),
    ("mqtt://h/p/#x", "topic level|unexpected"),
])
def test_bad_urls_are_one_line(url, match):
    with pytest.raises(EdgeferError, match=match) as e:
        parse_broker(url, environ={})
    assert "\n" not in str(e.value)


def test_tls_files_are_checked(tmp_path):
    with pytest.raises(EdgeferError, match="--mqtt-ca .*no such file"):
        parse_broker("mqtt://h/p", ca=tmp_path / "nope.pem", environ={})
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert parse_broker("mqtt://h/p", ca=ca, environ={}).tls  # a CA turns TLS on
    with pytest.raises(EdgeferError, match="--mqtt-key needs --mqtt-cert"):
        parse_broker("mqtt://h/p", key=ca, environ={})
    with pytest.raises(EdgeferError, match="--mqtt-password-file .*empty"):
        (tmp_path / "empty").write_text("")
        parse_broker("mqtt://u@h/p", password_file=Path(tmp_path / "empty"), environ={})
