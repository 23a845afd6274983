"""The error lines the proxy answers with: one sentence a person can act on in
``message``, the numbers in ``data`` (DESIGN.md, "Errors")."""
from agentdeck.wire.jsonrpc import (INVALID_REQUEST, MESSAGE_TOO_LARGE, NULL_ID, PARSE_ERROR, SERVER_UNAVAILABLE,
                                    TOO_MANY_CLIENTS, error_line)


def parse_error(server):
    return error_line(NULL_ID, PARSE_ERROR, "parse error: the line is not valid JSON (UTF-8, one message per line)",
                      {"server": server})


def invalid(raw_id, why, server):
    return error_line(raw_id, INVALID_REQUEST, f"invalid request: {why}", {"server": server})


def unavailable(raw_id, server, why, stderr_tail=""):
    return error_line(raw_id, SERVER_UNAVAILABLE, f"server {server} {why}",
                      {"server": server, "stderr_tail": stderr_tail})


def not_reading(raw_id, server, queued):
    return error_line(raw_id, SERVER_UNAVAILABLE, f"server {server} is not reading its input; try again shortly "
                      "(it is restarted if it stays stuck)", {"server": server, "queued_bytes": queued})


def request_too_large(raw_id, server, size, limit):
    return error_line(raw_id, MESSAGE_TOO_LARGE, f"request of {size} bytes exceeds the limit of {limit} bytes "
                      "(max_request_bytes); it was not sent to the server",
                      {"server": server, "size": size, "limit": limit})


def response_too_large(server, size, limit):
    """The error object for an answer over max_response_bytes (also what a waiting initialize gets)."""
    return {"code": MESSAGE_TOO_LARGE,
            "message": f"the server's response of {size} bytes exceeds the limit of {limit} bytes "
                       "(max_response_bytes); it was discarded",
            "data": {"server": server, "size": size, "limit": limit}}


def too_many_clients(raw_id, server, limit):
    return error_line(raw_id, TOO_MANY_CLIENTS, f"server {server} already has {limit} clients (max_clients); "
                      "close an idle session or raise the limit", {"server": server, "limit": limit})


def no_project_message(server, share):
    return (f"server {server} runs one child per {'project' if share == 'project' else 'session'} and needs to know "
            "the project: run `agentdeck bridge " + server + "` in the project directory (it says so when it "
            f"connects), or use the URL /servers/{server}/p/<key>/mcp that `agentdeck mcp json --dir DIR` writes")


def too_many_children_message(server, share, limit):
    return (f"server {server} already runs {limit} {share} children (max_children = {limit}); end an idle session "
            f"or raise [mcp.{server}] max_children")
