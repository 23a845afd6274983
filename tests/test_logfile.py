"""Log sinks and formats: bounded on disk, one event per line, JSON lines on request,
and a sink that cannot write (disk full) never raises into the daemon."""
import fcntl
import json
import os
import socket
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
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=1000, backups=2, lost=lost, stderr=None)
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
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=100, backups=0, lost=logfile.LostLines(), stderr=None)
    for i in range(10):
        sink.write(f"{i}" * 30 + "\n")
    sink.stop()
    assert os.listdir(tmp_path) == ["x.log"] and (tmp_path / "x.log").read_text() == "9" * 30 + "\n"


def test_a_full_disk_loses_lines_counts_them_and_reports_once(tmp_path, capfd):
    os.symlink("/dev/full", tmp_path / "x.log")
    lost = logfile.LostLines()
    sink = logfile.RotatingFile(tmp_path / "x.log", max_bytes=1000, backups=2, lost=lost,
                                stderr=logfile.Stderr(lost))
    for i in range(50):
        sink.write(f"line {i}\n")  # never raises
    sink.stop()
    assert lost.count == 50
    reports = [line for line in capfd.readouterr().err.splitlines() if "cannot write" in line]
    assert len(reports) == 1, reports
    assert "No space left on device" in reports[0] and "the daemon keeps serving" in reports[0]


PIPE_BYTES = 4096  # the smallest pipe Linux makes: a few lines fill it


@pytest.fixture
def small_pipe():
    """(read end, write end) of a one-page pipe; the read end is non-blocking."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    os.set_blocking(read_end, False)
    yield read_end, write_end
    for fd in (read_end, write_end):
        os.close(fd)


def read_all(fd):
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_pipe_nobody_reads_drops_and_counts_lines_and_says_so_once_it_is_read(small_pipe):
    """Regression: a blocking write to a full stderr pipe froze the whole daemon."""
    read_end, write_end = small_pipe
    lost = logfile.LostLines()
    stderr = logfile.Stderr(lost, fd=write_end)
    for i in range(200):
        stderr.write(f"line {i:03d} " + "." * 50 + "\n")  # never blocks
    assert os.get_blocking(write_end), "the shared descriptor (the parent's) is left blocking"
    assert lost.count > 100
    dropped = lost.count
    kept = read_all(read_end).decode().splitlines()
    assert kept == [f"line {i:03d} " + "." * 50 for i in range(200 - dropped)], "whole lines, in order"
    stderr.write("after\n")
    assert read_all(read_end).decode().splitlines() == [
        f"agentdeck: {dropped} log lines dropped: stderr could not take them (is anyone reading it?)", "after"]
    stderr.write("again\n")
    assert read_all(read_end) == b"again\n", "one note per drop, not per line"


def test_a_line_half_written_is_finished_before_the_next_one(small_pipe):
    read_end, write_end = small_pipe
    lost = logfile.LostLines()
    stderr = logfile.Stderr(lost, fd=write_end)
    long_line = "x" * (PIPE_BYTES + 1000) + "\n"
    stderr.write(long_line)  # a page of it fits; the rest waits
    stderr.write("short\n")  # the pipe is still full: dropped, not interleaved
    assert lost.count == 1
    received = read_all(read_end)
    stderr.write("next\n")
    received += read_all(read_end)
    assert received.decode().splitlines() == [
        long_line.rstrip("\n"), "agentdeck: 1 log lines dropped: stderr could not take them (is anyone reading it?)",
        "next"]


def test_a_socket_that_is_not_read_drops_lines_too():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        os.set_blocking(ours.fileno(), True)  # as a journald stderr is (gevent made it non-blocking)
        lost = logfile.LostLines()
        stderr = logfile.Stderr(lost, fd=ours.fileno())
        for _ in range(20000):
            stderr.write("." * 100 + "\n")
        assert os.get_blocking(ours.fileno()) and lost.count > 0


def test_a_regular_file_is_appended_to_in_place(tmp_path):
    with open(tmp_path / "err", "ab", buffering=0) as f:
        f.write(b"parent\n")
        logfile.Stderr(logfile.LostLines(), fd=f.fileno()).write("daemon\n")
        f.write(b"parent again\n")
    assert (tmp_path / "err").read_text() == "parent\ndaemon\nparent again\n"


def test_a_reader_that_left_loses_lines_without_raising():
    ours, theirs = socket.socketpair()
    theirs.close()
    with ours:
        stderr = logfile.Stderr(logfile.LostLines(), fd=ours.fileno())
        stderr.write("into nothing\n")  # EPIPE: never raised into the daemon
        assert stderr.lost.count == 1


def test_a_stderr_that_cannot_be_reopened_is_left_alone_and_says_why(small_pipe, monkeypatch):
    monkeypatch.setattr(logfile, "REOPEN_PATH", "/nonexistent/{}")  # as for a pipe or tty of another user
    read_end, write_end = small_pipe
    stderr = logfile.Stderr(logfile.LostLines(), fd=write_end)
    stderr.write("not here\n")  # the log file has it: neither written nor counted
    assert read_all(read_end) == b"" and stderr.lost.count == 0
    assert stderr.problem.startswith("stderr cannot be written without blocking (No such file or directory)")


def test_text_printed_on_the_daemons_stderr_goes_out_a_whole_line_at_a_time(small_pipe):
    read_end, write_end = small_pipe
    text = logfile.StderrText(logfile.Stderr(logfile.LostLines(), fd=write_end))
    print("Traceback (most recent call last):", file=text, end="")
    text.flush()
    assert read_all(read_end) == b""
    print("", file=text)
    print("  two", "pieces", file=text)
    assert read_all(read_end) == b"Traceback (most recent call last):\n  two pieces\n"


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


def _fail_holding(secret):
    """A bug deep in a call that holds a secret in a local variable."""
    environ = {"QUERY_STRING": f"token={secret}", "HTTP_AUTHORIZATION": f"Bearer {secret}"}
    return environ["PATH_INFO"]


@pytest.mark.parametrize("json_lines", [False, True])
def test_no_traceback_prints_the_values_of_variables(tmp_path, capfd, restore_loguru, json_lines):
    """Regression: loguru's diagnose (on by default) printed every frame's variables, and a
    500 wrote a request's token into daemon.log and stderr. Every sink: the daemon's two,
    a server's, and a command's own stderr."""
    secret = "s3cret-0123456789abcdef"
    home = Home(tmp_path).ensure()
    logsetup.setup(home, "INFO", json_lines=json_lines)
    server_log, sink = logsetup.add_server_log(home, "time")
    for log in (logger, server_log):
        try:
            _fail_holding(secret)
        except KeyError:
            log.exception("a request failed")
    logsetup.remove_server_log(sink)
    logsetup.setup_command()
    try:
        _fail_holding(secret)
    except KeyError:
        logger.exception("a command failed")
    logger.remove()
    written = {name: (home.logs / name).read_text() for name in ("daemon.log", "mcp-time.log")}
    written["stderr"] = capfd.readouterr().err
    assert "KeyError" in written["daemon.log"] and "a command failed" in written["stderr"]
    for name, text in written.items():
        assert secret not in text, name
