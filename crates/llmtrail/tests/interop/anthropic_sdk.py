"""The official anthropic SDK against the gateway, with a virtual key: identity comes from the
key, the real provider key stays in the gateway, and the trail matches what was exchanged."""

import json
import os

import anthropic

import trail
from trail import check

client = anthropic.Anthropic(base_url=trail.URL, api_key=os.environ["LLMTRAIL_VIRTUAL_KEY"],
                             max_retries=0)
TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def identity(ev):
    a = ev["actor"]
    check((a["user"], a["role"], a["department"]) == ("u-1042", "finance", "treasury"), a)
    check(a["api_key_id"] == os.environ["LLMTRAIL_VIRTUAL_KEY_ID"], a)


def messages_plain():
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, system="You are the treasury assistant.",
        messages=[{"role": "user", "content": "What is our cash position?"}])
    rid = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    req = trail.event(rid)
    identity(req)
    check(req["body"]["gen_ai.provider.name"] == "anthropic", req["body"])
    check(req["body"]["gen_ai.system_instructions"][0]["content"] == "You are the treasury assistant.", req["body"])
    check(req["body"]["gen_ai.input.messages"][0]["parts"][0]["content"] == "What is our cash position?", req["body"])
    resp = trail.response(rid)
    identity(resp)
    check(trail.output_text(resp) == got.content[0].text, "output differs")
    check(resp["body"]["usage"]["gen_ai.usage.input_tokens"] == got.usage.input_tokens, resp["body"])
    check(resp["body"]["usage"]["gen_ai.usage.output_tokens"] == got.usage.output_tokens, resp["body"])
    check(resp["body"]["gen_ai.response.finish_reasons"] == [got.stop_reason], resp["body"])
    check(json.loads(resp["body"]["raw"]) == json.loads(raw.http_response.text), "raw differs")


def messages_stream():
    with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=64, stream=True,
            messages=[{"role": "user", "content": "stream a short answer"}]) as raw:
        rid = raw.headers["x-llmtrail-request-id"]
        body = raw.read().decode()
    text = ""
    for block in body.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                ev = json.loads(line[6:])
                if ev["type"] == "content_block_delta" and ev["delta"]["type"] == "text_delta":
                    text += ev["delta"]["text"]
    resp = trail.response(rid)
    check(resp["body"]["streamed"] and resp["body"]["status"] == "ok", resp["body"])
    check(resp["body"]["raw"] == body, "raw stream differs from what the client read")
    check(trail.output_text(resp) == text, (trail.output_text(resp), text))

    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "and again"}]) as stream:
        final = stream.get_final_message()
        rid = stream.response.headers["x-llmtrail-request-id"]
    resp = trail.response(rid)
    check(trail.output_text(resp) == final.content[0].text, "helper stream differs")
    check(resp["body"]["usage"]["gen_ai.usage.output_tokens"] == final.usage.output_tokens, resp["body"])


def messages_tools():
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    raw = client.messages.with_raw_response.create(model="mock-tool", max_tokens=64, tools=TOOLS, messages=messages)
    first_id = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    use = next(b for b in got.content if b.type == "tool_use")
    resp = trail.response(first_id)
    parts = [p for p in resp["body"]["gen_ai.output.messages"][0]["parts"] if p["type"] == "tool_call"]
    check(parts[0]["id"] == use.id and parts[0]["name"] == use.name and parts[0]["arguments"] == use.input, parts)
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in got.content]})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": use.id, "content": "18C and raining"}]})
    raw = client.messages.with_raw_response.create(model="mock-tool", max_tokens=64, tools=TOOLS, messages=messages)
    second_id = raw.headers["x-llmtrail-request-id"]
    raw.parse()
    tool = trail.related(second_id, "tool.call")[0]
    identity(tool)
    b = tool["body"]
    check((b["gen_ai.tool.name"], b["gen_ai.tool.call.id"]) == ("get_weather", use.id), b)
    check(b["gen_ai.tool.call.arguments"] == use.input and b["gen_ai.tool.call.result"] == "18C and raining", b)
    check(b["request_id"] == resp["id"], "tool call is not linked to the response that asked")


def messages_error():
    try:
        client.messages.create(model="mock-error-429", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    except anthropic.RateLimitError as e:
        rid = e.response.headers["x-llmtrail-request-id"]
    else:
        raise AssertionError("no error raised")
    resp = trail.response(rid)
    check(resp["body"]["status"] == "error" and resp["body"]["http_status"] == 429, resp["body"])
    check(resp["body"]["error"]["error.type"] == "rate_limit_error", resp["body"])


trail.run([messages_plain, messages_stream, messages_tools, messages_error])
