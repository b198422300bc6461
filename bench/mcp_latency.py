"""MCP proxy latency: a minimal stdio MCP server (`server`), and a driver (`drive CMD...`) that
starts a command speaking MCP on stdio, sends sequential tools/call requests and prints the
round-trip percentiles as JSON. Run by bench/mcp.sh, directly and through `llmtrail mcp wrap`."""

import json
import os
import subprocess
import sys
import time


def server():
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" not in msg:
            continue
        if msg.get("method") == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "bench-server", "version": "1"}}
        else:
            args = msg.get("params", {}).get("arguments", {})
            result = {"content": [{"type": "text", "text": "ok " + args.get("q", "")}],
                      "isError": False}
        out.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        out.flush()


def drive(cmd, n, warmup):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    rd = p.stdout

    def rpc(i, method, params):
        p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                   "params": params}) + "\n").encode())
        line = rd.readline()
        if not line:
            raise SystemExit("no answer")
        return json.loads(line)

    rpc(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "bench", "version": "1"}})
    times = []
    for i in range(1, warmup + n + 1):
        t0 = time.perf_counter_ns()
        r = rpc(i, "tools/call", {"name": "search", "arguments": {"q": "invoice %d" % i}})
        dt = time.perf_counter_ns() - t0
        if "result" not in r:
            raise SystemExit("error answer: %r" % r)
        if i > warmup:
            times.append(dt)
    p.stdin.close()
    p.wait(10)
    times.sort()
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] / 1e6
    print(json.dumps({"calls": n, "p50_ms": round(pct(0.50), 4), "p90_ms": round(pct(0.90), 4),
                      "p99_ms": round(pct(0.99), 4)}))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    else:
        drive(sys.argv[2:], int(os.environ.get("CALLS", "5000")), int(os.environ.get("WARMUP", "200")))
