"""The official openai SDK against the gateway: what the client sent and received must be
exactly what the trail says."""

import json
import os

import openai

import trail
from trail import check

client = openai.OpenAI(
    base_url=trail.GATEWAY,
    api_key="sk-client-key",
    max_retries=0,
    default_headers={"x-llmtrail-user": "u-py", "x-llmtrail-session": "sess-openai"},
)


def chat_plain():
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages, temperature=0.3, max_tokens=50)
    rid = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    req = trail.event(rid)
    check(req["kind"] == "llm.request", req)
    check(json.loads(req["body"]["raw"])["messages"] == messages, "raw request differs")
    sent = [(m["role"], m["parts"][0]["content"]) for m in req["body"]["gen_ai.input.messages"]]
    check(sent == [(m["role"], m["content"]) for m in messages], sent)
    check(req["body"]["parameters"]["gen_ai.request.max_tokens"] == 50, req["body"]["parameters"])
    check(req["actor"]["user"] == "u-py" and req["actor"]["session"] == "sess-openai", req["actor"])
    check(req["actor"]["user_agent"].startswith("OpenAI/Python"), req["actor"])
    resp = trail.response(rid)
    check(resp["body"]["status"] == "ok", resp["body"])
    check(trail.output_text(resp) == got.choices[0].message.content, "output differs")
    usage = resp["body"]["usage"]
    check(usage["gen_ai.usage.input_tokens"] == got.usage.prompt_tokens, usage)
    check(usage["gen_ai.usage.output_tokens"] == got.usage.completion_tokens, usage)
    check(resp["body"]["gen_ai.response.id"] == got.id, resp["body"])
    check(json.loads(resp["body"]["raw"]) == json.loads(raw.http_response.text), "raw output differs")


def chat_stream():
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream me a sentence please"}])
    rid = raw.headers["x-llmtrail-request-id"]
    text, usage, finish = "", None, None
    for chunk in raw.parse():
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    resp = trail.response(rid)
    check(resp["body"]["streamed"] is True, resp["body"])
    check(resp["body"]["status"] == "ok", resp["body"])
    check(trail.output_text(resp) == text, (trail.output_text(resp), text))
    check(resp["body"]["gen_ai.response.finish_reasons"] == [finish], resp["body"])
    check(resp["body"]["usage"]["gen_ai.usage.output_tokens"] == usage.completion_tokens, usage)
    check("time_to_first_token_ms" in resp["body"], resp["body"])


def chat_tools():
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    raw = client.chat.completions.with_raw_response.create(model="mock-tool", messages=messages, tools=tools)
    first_id = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    call = got.choices[0].message.tool_calls[0]
    req = trail.event(first_id)
    check(req["body"]["gen_ai.tool.definitions"][0]["name"] == "get_weather", req["body"])
    resp = trail.response(first_id)
    parts = [p for p in resp["body"]["gen_ai.output.messages"][0]["parts"] if p["type"] == "tool_call"]
    check(parts[0]["name"] == call.function.name and parts[0]["id"] == call.id, parts)
    check(parts[0]["arguments"] == json.loads(call.function.arguments), parts)
    check(resp["body"]["gen_ai.response.finish_reasons"] == ["tool_calls"], resp["body"])

    messages.append(got.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and raining"})
    raw = client.chat.completions.with_raw_response.create(model="mock-tool", messages=messages, tools=tools)
    second_id = raw.headers["x-llmtrail-request-id"]
    answer = raw.parse().choices[0].message.content
    tool = trail.related(second_id, "tool.call")[0]["body"]
    check(tool["gen_ai.tool.name"] == "get_weather", tool)
    check(tool["gen_ai.tool.call.id"] == call.id, tool)
    check(tool["gen_ai.tool.call.arguments"] == json.loads(call.function.arguments), tool)
    check(tool["gen_ai.tool.call.result"] == "18C and raining", tool)
    check(tool["request_id"] == resp["id"], "tool call is not linked to the response that asked")
    check(trail.output_text(trail.response(second_id)) == answer, "second answer differs")


def chat_error():
    try:
        client.chat.completions.create(model="mock-error-429", messages=[{"role": "user", "content": "x"}])
    except openai.RateLimitError as e:
        rid = e.response.headers["x-llmtrail-request-id"]
        message = e.body["message"]
    else:
        raise AssertionError("no error raised")
    resp = trail.response(rid)
    check(resp["body"]["status"] == "error" and resp["body"]["http_status"] == 429, resp["body"])
    check(resp["body"]["error_message"] == message, (resp["body"], message))


def gateway_error_is_an_sdk_error():
    bad = openai.OpenAI(base_url=trail.GATEWAY, api_key="llmt_vk_not-a-real-key", max_retries=0)
    try:
        bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    except openai.AuthenticationError as e:
        check(e.code == "unknown_key", e.code)
        audit = trail.event(e.response.headers["x-llmtrail-request-id"])
        check(audit["kind"] == "audit" and audit["body"]["outcome"] == "denied", audit)
    else:
        raise AssertionError("an unknown virtual key was accepted")


def responses_api():
    raw = client.responses.with_raw_response.create(
        model="gpt-4o", instructions="Answer briefly.", input="Name a prime number.")
    rid = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    req = trail.event(rid)
    check(req["body"]["gen_ai.system_instructions"][0]["content"] == "Answer briefly.", req["body"])
    check(req["body"]["gen_ai.input.messages"][0]["parts"][0]["content"] == "Name a prime number.", req["body"])
    resp = trail.response(rid)
    check(trail.output_text(resp) == got.output_text, (trail.output_text(resp), got.output_text))
    check(resp["body"]["usage"]["gen_ai.usage.output_tokens"] == got.usage.output_tokens, resp["body"])

    raw = client.responses.with_raw_response.create(model="gpt-4o", input="stream this", stream=True)
    rid = raw.headers["x-llmtrail-request-id"]
    text = "".join(ev.delta for ev in raw.parse() if ev.type == "response.output_text.delta")
    resp = trail.response(rid)
    check(resp["body"]["streamed"] and trail.output_text(resp) == text, (trail.output_text(resp), text))


def embeddings_and_models():
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["alpha", "beta"])
    rid = raw.headers["x-llmtrail-request-id"]
    got = raw.parse()
    req = trail.event(rid)
    check([m["parts"][0]["content"] for m in req["body"]["gen_ai.input.messages"]] == ["alpha", "beta"], req["body"])
    check(req["body"]["gen_ai.operation.name"] == "embeddings", req["body"])
    resp = trail.response(rid)
    check(resp["body"]["usage"]["gen_ai.usage.input_tokens"] == got.usage.prompt_tokens, resp["body"])
    models = client.models.with_raw_response.list()
    check(trail.event(models.headers["x-llmtrail-request-id"])["kind"] == "llm.request", "models")
    check(len(models.parse().data) > 0, "no models")


trail.run([chat_plain, chat_stream, chat_tools, chat_error, gateway_error_is_an_sdk_error,
           responses_api, embeddings_and_models])
