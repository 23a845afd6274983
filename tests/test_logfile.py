"""Log sinks and formats: bounded on disk, one event per line, JSON lines on request,
and a sink that cannot write (disk full) never raises into the daemon."""
import json
import os
import sys

import pytest
from loguru import logger

from agentdeck.logs import logfile, logsetup
from agentdeck.paths import Home


@pytest.fixture
def restore_loguru():
    """Put loguru back as the other tests expect it: one stderr sink, no daemon sinks."""
    yield
    logger.remove()
    logsetup._daemon_sinks.clear()
    logger.add(sys.stderr)


def test_rotation_keeps_the_files_bounded(tmp_path):
    lost = logfile.LostLines()
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=1000, backups=2, lost=lost)
    for i in range(500):
        sink.write(f"line {i:04d} " + "." * 40 + "\n")
    sink.stop()
    names = sorted(os.listdir(tmp_path))
    assert names == ["x.log", "x.log.1", "x.log.2"]
    assert all(os.path.getsize(tmp_path / n) <= 1000 for n in names)
    assert (tmp_path / "x.log").read_text().splitlines()[-1].startswith("line 0499")
    first_kept = int((tmp_path / "x.log.2").read_text().split()[1])
    assert first_kept > 400, "older files were deleted, newest kept"
    assert oct(os.stat(tmp_path / "x.log").st_mode & 0o777) == "0o600"
    assert lost.count == 0


def test_zero_backups_starts_the_file_afresh(tmp_path):
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=100, backups=0, lost=logfile.LostLines())
    for i in range(10):
        sink.write(f"{i}" * 30 + "\n")
    sink.stop()
    assert os.listdir(tmp_path) == ["x.log"] and (tmp_path / "x.log").read_text() == "9" * 30 + "\n"


def test_a_full_disk_loses_lines_counts_them_and_reports_once(tmp_path, capfd):
    os.symlink("/dev/full", tmp_path / "x.log")
    lost = logfile.LostLines()
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=1000, backups=2, lost=lost)
    for i in range(50):
        sink.write(f"line {i}\n")  # never raises
    sink.stop()
    assert lost.count == 50
    reports = [line for line in capfd.readouterr().err.splitlines() if "cannot write" in line]
    assert len(reports) == 1, reports
    assert "No space left on device" in reports[0] and "the daemon keeps serving" in reports[0]


def test_a_broken_stream_is_counted_not_raised():
    class Broken:
        name = "<broken pipe>"

        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass
    lost = logfile.LostLines()
    logfile.GuardedStream(Broken(), lost).write("hello\n")
    assert lost.count == 1


def test_daemon_log_lines_are_one_event_each_and_json_on_request(tmp_path, restore_loguru):
    home = Home(tmp_path).ensure()
    logsetup.setup(home, "INFO", json_lines=True)
    logger.info("server {} restarted {} times\nsecond line", "time", 3)
    logger.bind(session="abc123").warning("session waits")
    logger.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it broke")
    logger.remove()
    lines = (home.logs / "daemon.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records] == ["server time restarted 3 times\nsecond line", "session waits",
                                               "it broke"]
    assert records[1]["session"] == "abc123" and records[1]["level"] == "WARNING"
    assert "ValueError: boom" in records[2]["exception"]
    assert all(logsetup.PRIVATE_EXTRA not in r for r in records)


def test_text_lines_escape_newlines_and_a_reload_keeps_server_logs(tmp_path, restore_loguru):
    home = Home(tmp_path).ensure()
    logsetup.setup(home, "INFO")
    server_log, sink = logsetup.add_server_log(home, "time")
    logsetup.setup(home, "DEBUG")  # a reload: the server's log must carry on
    logger.debug("two\nlines")
    server_log.info("stderr of the child")
    logsetup.remove_server_log(sink)
    logger.remove()
    daemon_lines = (home.logs / "daemon.log").read_text().splitlines()
    assert len(daemon_lines) == 1 and daemon_lines[0].endswith("DEBUG   two\\nlines")
    server_lines = (home.logs / "mcp-time.log").read_text().splitlines()
    assert len(server_lines) == 1 and server_lines[0].endswith(" stderr of the child")
