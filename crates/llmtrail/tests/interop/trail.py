"""Reads the trail of a gateway exchange back through llmtrail's API (shared by the interop
scripts). Configuration comes from the environment the Rust harness sets."""

import json
import os
import time
import urllib.request

URL = os.environ["LLMTRAIL_URL"]
TOKEN = os.environ["LLMTRAIL_TOKEN"]
GATEWAY = URL + "/v1"


def _get(path):
    req = urllib.request.Request(URL + path, headers={"authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def event(event_id):
    """Returns the stored event with this id."""
    return _get("/api/v1/events/" + event_id)["event"]


def related(event_id, kind, count=1):
    """Waits until at least `count` related events of `kind` exist; returns them in order."""
    deadline = time.time() + 10
    while True:
        found = [e["event"] for e in _get("/api/v1/events/%s/related" % event_id)["events"]
                 if e["event"]["kind"] == kind]
        if len(found) >= count:
            return found
        if time.time() > deadline:
            raise AssertionError("no %s related to %s" % (kind, event_id))
        time.sleep(0.02)


def response(event_id):
    """Returns the llm.response of a request."""
    return related(event_id, "llm.response")[0]


def output_text(resp_event):
    """Concatenates the text parts of the recorded output messages."""
    return "".join(p["content"] for m in resp_event["body"].get("gen_ai.output.messages", [])
                   for p in m["parts"] if p["type"] == "text")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(scenarios):
    for fn in scenarios:
        fn()
        print("ok", fn.__name__, flush=True)
