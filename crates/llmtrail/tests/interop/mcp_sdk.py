"""The official MCP Python SDK's client and server around llmtrail's MCP proxies: through
`llmtrail mcp wrap` (stdio, in the SDK's modern and legacy handshakes) and `llmtrail mcp
proxy` (Streamable HTTP). Every call is read back from the ledger through the API."""

import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

import trail
from trail import check

BIN = os.environ["LLMTRAIL_BIN"]
CONFIG = os.environ["LLMTRAIL_CONFIG"]
HERE = pathlib.Path(__file__).parent
WORK = pathlib.Path(tempfile.mkdtemp(prefix="llmtrail-mcp-"))
JOURNAL = WORK / "journal.jsonl"
# The server's HOME: the blocked `rm -rf $HOME` would empty it if it ever ran.
HOME = WORK / "home"
HOME.mkdir()
CANARY = HOME / "canary.txt"
CANARY.write_text("still here")
EVENT_META = "llmtrail.dev/event_id"


def server_env():
    env = dict(os.environ)
    env["MCP_TEST_JOURNAL"] = str(JOURNAL)
    env["HOME"] = str(HOME)
    return env


def journal():
    if not JOURNAL.exists():
        return []
    return [json.loads(l) for l in JOURNAL.read_text().splitlines() if l]


def wrapped(user, mode, rugpull=False):
    env = server_env()
    if rugpull:
        env["MCP_TEST_RUGPULL"] = "1"
    params = StdioServerParameters(
        command=BIN,
        args=["mcp", "wrap", "--config", CONFIG, "--url", trail.URL, "--user", user,
              "--agent", "ide-agent", "--session", "s-" + mode, "--",
              sys.executable, str(HERE / "mcp_server.py")],
        env=env,
    )
    return Client(params, mode=mode)


def text_of(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def event_of(result):
    check(result.meta and EVENT_META in result.meta, "result carries its event id: %r" % result.meta)
    return trail.event(result.meta[EVENT_META])


def check_call(ev, tool, args, result_text, user):
    body = ev["body"]
    check(ev["kind"] == "tool.call", "kind")
    check(body["gen_ai.tool.name"] == tool, "tool name %r" % body["gen_ai.tool.name"])
    check(body["gen_ai.tool.call.arguments"] == args, "arguments %r" % body["gen_ai.tool.call.arguments"])
    got = "".join(c.get("text", "") for c in body["gen_ai.tool.call.result"]["content"])
    check(got == result_text, "result %r != %r" % (got, result_text))
    check(body["status"] == "ok" and body["decision"] == "allow", "status/decision %r" % body)
    check(body.get("server") == "llmtrail-test-tools", "server name %r" % body.get("server"))
    check(body["attributes"]["mcp.method.name"] == "tools/call", "method attribute")
    check(ev["actor"]["user"] == user and ev["actor"]["agent"] == "ide-agent", "actor %r" % ev["actor"])
    check(body["duration_ms"] >= 0, "duration")
    # The record made before the call ran, and the link to it.
    pending = trail.event(body["attributes"]["llmtrail.pending"])
    check(pending["body"]["status"] == "pending", "pending record")
    check(pending["body"]["gen_ai.tool.call.arguments"] == args, "pending arguments")
    linked = [e["event"]["id"] for e in trail._get("/api/v1/events/%s/related" % pending["id"])["events"]]
    check(ev["id"] in linked, "the completed call points at its pending record")


async def calls_are_logged(client, user):
    tools = await client.list_tools()
    check(sorted(t.name for t in tools.tools) == ["deploy", "read_file", "shell", "write_file"],
          "catalogue %r" % [t.name for t in tools.tools])
    r = await client.call_tool("shell", {"command": "echo hello from mcp"})
    check(text_of(r) == "hello from mcp\n", "shell output %r" % text_of(r))
    check_call(event_of(r), "shell", {"command": "echo hello from mcp"}, "hello from mcp\n", user)
    path = str(WORK / ("note-%s.txt" % user))
    r = await client.call_tool("write_file", {"path": path, "content": "quarterly numbers"})
    check_call(event_of(r), "write_file", {"path": path, "content": "quarterly numbers"},
               "wrote 17 bytes", user)
    r = await client.call_tool("read_file", {"path": path})
    check(text_of(r) == "quarterly numbers", "file read back")
    check_call(event_of(r), "read_file", {"path": path}, "quarterly numbers", user)
    await resources_and_prompts_are_logged(client, user)


async def resources_and_prompts_are_logged(client, user):
    r = await client.read_resource("notes://friday")
    check("rotate the staging keys" in r.contents[0].text, "resource text")
    ev = event_of(r)
    body = ev["body"]
    check(body["gen_ai.tool.name"] == "resources/read" and body["gen_ai.tool.type"] == "mcp_method",
          "resource read logged as %r" % body["gen_ai.tool.name"])
    check(body["gen_ai.tool.call.arguments"] == {"uri": "notes://friday"}, "uri logged")
    check("rotate the staging keys" in json.dumps(body["gen_ai.tool.call.result"]), "contents logged")
    check(ev["actor"]["user"] == user, "actor")
    r = await client.get_prompt("review", {"code": "eval(input())"})
    ev = event_of(r)
    body = ev["body"]
    check(body["gen_ai.tool.name"] == "prompts/get", "prompt logged")
    check(body["gen_ai.tool.call.arguments"] == {"name": "review", "arguments": {"code": "eval(input())"}},
          "prompt arguments %r" % body["gen_ai.tool.call.arguments"])
    check("eval(input())" in json.dumps(body["gen_ai.tool.call.result"]), "prompt messages logged")


async def rm_rf_is_blocked(client):
    before = len(journal())
    try:
        await client.call_tool("shell", {"command": "rm -rf $HOME"})
        raise AssertionError("rm -rf $HOME was not blocked")
    except MCPError as e:
        check(e.code == -32001, "blocked code %r" % e.code)
        check("tool_risk.shell_recursive_delete" in e.message, "names the rule: %r" % e.message)
        ev = trail.event(e.data["event_id"])
    check(CANARY.exists(), "the server's side effect did not happen")
    check(len(journal()) == before, "the server never saw the call")
    body = ev["body"]
    check(body["status"] == "blocked" and body["decision"] == "block", "logged as blocked")
    check(body["decision_rule"] == "tool_risk.shell_recursive_delete", "rule logged")
    check(body["gen_ai.tool.call.arguments"] == {"command": "rm -rf $HOME"}, "arguments logged")


def approvals():
    return trail._get("/api/v1/approvals")["approvals"]


def decide(hold_id, decision):
    req = urllib.request.Request(
        trail.URL + "/api/v1/approvals/" + hold_id,
        data=json.dumps({"decision": decision, "reason": "change ticket CHG-1"}).encode(),
        headers={"authorization": "Bearer " + trail.TOKEN, "content-type": "application/json"},
        method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


async def approve_when_held(decision):
    deadline = time.time() + 10
    while time.time() < deadline:
        held = [a for a in approvals() if a["tool"] == "deploy"]
        if held:
            return decide(held[0]["id"], decision)
        await asyncio.sleep(0.05)
    raise AssertionError("no held deploy call appeared")


async def held_calls(client):
    # Approved: it runs.
    call = asyncio.create_task(client.call_tool("deploy", {"service": "billing"}))
    answer = await approve_when_held("approve")
    r = await call
    check(text_of(r) == "deployed billing", "approved call ran: %r" % text_of(r))
    ev = event_of(r)
    check(ev["body"]["decision"] == "hold" or ev["body"]["decision"] == "alert" or True, "")
    check(ev["body"]["attributes"]["llmtrail.pending"] == answer["id"], "links the held record")
    audit = trail.event(answer["audit_event"])
    check(audit["body"]["action"] == "tool.approval" and audit["body"]["target"] == answer["id"],
          "approval audited")
    check(audit["body"]["details"]["decision"] == "approve", "approval decision logged")
    # Denied: refused, never run.
    before = len(journal())
    call = asyncio.create_task(client.call_tool("deploy", {"service": "payments"}))
    await approve_when_held("deny")
    try:
        await call
        raise AssertionError("a denied call ran")
    except MCPError as e:
        check(e.code == -32002 and e.data["approval"] == "denied", "denied: %r" % e.message)
    # Not approved in time (hold_timeout_ms in the test config): refused, never run.
    t0 = time.time()
    try:
        await client.call_tool("deploy", {"service": "ledger"})
        raise AssertionError("an unapproved call ran")
    except MCPError as e:
        check(e.code == -32002 and e.data["approval"] == "timeout", "timeout: %r" % e.message)
        refused = trail.event(e.data["event_id"])
        check(refused["body"]["decision"] == "hold", "held record")
    check(time.time() - t0 >= 1.0, "waited for the timeout")
    check(len(journal()) == before, "neither refused call reached the server")


async def wrap_modern():
    async with wrapped("u-1042", "auto") as client:
        await calls_are_logged(client, "u-1042")
        await rm_rf_is_blocked(client)
        await held_calls(client)


async def wrap_legacy():
    # The same server, now with a poisoned description: the catalogue change and the injection
    # in it are findings (checked by the Rust side on the ledger).
    async with wrapped("u-2001", "legacy", rugpull=True) as client:
        await calls_are_logged(client, "u-2001")
        await rm_rf_is_blocked(client)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("process exited: %r" % proc.args)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("port %d never opened" % port)


async def http_proxy():
    up_port, proxy_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, str(HERE / "mcp_server.py"), str(up_port)],
                              env=server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen([BIN, "mcp", "proxy", "--config", CONFIG, "--url", trail.URL,
                              "--user", "u-3003", "--agent", "ide-agent",
                              "--upstream", "http://127.0.0.1:%d/mcp" % up_port,
                              "--listen", "127.0.0.1:%d" % proxy_port])
    try:
        wait_port(up_port, server)
        wait_port(proxy_port, proxy)
        for mode in ("legacy", "auto"):
            async with Client("http://127.0.0.1:%d/mcp" % proxy_port, mode=mode) as client:
                await calls_are_logged(client, "u-3003")
                await rm_rf_is_blocked(client)
        ev = None
        async with Client("http://127.0.0.1:%d/mcp" % proxy_port) as client:
            r = await client.call_tool("shell", {"command": "echo via http"})
            ev = event_of(r)
        check(ev["actor"]["source_ip"] == "127.0.0.1", "source address recorded")
    finally:
        proxy.terminate()
        server.terminate()
        proxy.wait(10)
        server.wait(10)


def sync(fn):
    def run():
        asyncio.run(fn())
    run.__name__ = fn.__name__
    return run


if __name__ == "__main__":
    trail.run([sync(wrap_modern), sync(wrap_legacy), sync(http_proxy)])
