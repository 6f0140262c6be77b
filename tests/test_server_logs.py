"""The check every test server's log gets when it stops (servers.log_errors)."""

from __future__ import annotations

from servers import JANUS_ENDED, log_errors

QUIET = """\
Vårdmöte körs på http://127.0.0.1:41234/
2025-03-04 09:00:00,001 INFO vardmote.media.embedded started Janus (pid 12) at ws://127.0.0.1:1
2025-03-04 09:00:01,002 WARNING vardmote.media.janus Janus connection closed
INFO:     Uvicorn running on http://127.0.0.1:41234 (Press CTRL+C to quit)
"""

JANUS_DIED = "2025-03-04 09:00:02,003 ERROR vardmote.media.embedded Janus (pid 12) ended with -9 after 1 s\n"

ASGI_FAILURE = """\
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "app.py", line 1, in <module>
ValueError: trasig
INFO:     Shutting down
"""


def test_a_log_of_infos_and_warnings_has_no_errors() -> None:
    assert log_errors(QUIET) == []


def test_an_error_record_and_a_traceback_with_its_lines_are_errors() -> None:
    found = log_errors(QUIET + JANUS_DIED + ASGI_FAILURE)
    assert found == [
        JANUS_DIED.strip(),
        "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
        '  File "app.py", line 1, in <module>\nValueError: trasig',
    ]


def test_a_traceback_in_a_warning_and_a_bare_error_line_are_errors_too() -> None:
    warned = "2025-03-04 09:00:00,001 WARNING x y\nTraceback (most recent call last):\nKeyError: 1\n"
    assert len(log_errors(warned)) == 1
    assert log_errors("ERROR something printed\n") == ["ERROR something printed"]


def test_an_error_a_test_expects_is_let_through_and_only_that_one() -> None:
    assert log_errors(JANUS_DIED, [JANUS_ENDED]) == []
    assert log_errors(JANUS_DIED + ASGI_FAILURE, [JANUS_ENDED]) != []
