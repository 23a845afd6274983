"""Test-wide guards: every test runs under a gevent.Timeout, and an error that
reaches the gevent hub (a greenlet that died with an unhandled exception) fails it."""
import gevent
import pytest

from tests.support import rmtree, short_tmpdir

DEFAULT_TEST_TIMEOUT = 60.0  # seconds; override with @pytest.mark.timeout(N)


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test gevent.Timeout")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("timeout")
    seconds = marker.args[0] if marker else DEFAULT_TEST_TIMEOUT
    timeout = gevent.Timeout(seconds, AssertionError(f"test timed out after {seconds} s"))
    timeout.start()
    try:
        yield
    finally:
        timeout.close()


@pytest.fixture(autouse=True)
def hub_errors_fail_the_test():
    hub = gevent.get_hub()
    errors = []
    original = hub.handle_error

    def record(context, type_, value, tb):
        if not issubclass(type_, hub.SYSTEM_ERROR):
            errors.append(f"{type_.__name__}: {value} (in {context!r})")
        original(context, type_, value, tb)

    hub.handle_error = record
    yield
    hub.handle_error = original
    assert not errors, "unhandled greenlet errors: " + "; ".join(errors)


@pytest.fixture
def home():
    """A fresh, short (Unix-socket-safe) directory under /tmp, removed afterwards."""
    path = short_tmpdir()
    yield path
    rmtree(path)
