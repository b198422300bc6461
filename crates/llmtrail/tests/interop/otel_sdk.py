"""The official OpenTelemetry Python SDK exporting GenAI spans and GenAI log events to llmtrail's
OTLP/HTTP receiver, with the protobuf exporter (gzip) on serve's listener and the JSON exporter
on the OTLP-only listener; and the OpenAI instrumentation (opentelemetry-instrumentation-openai)
around the official openai client talking to the mock upstream. Each event is then read back
through the API by the id llmtrail derives from the span (crates/llmtrail-otlp/src/ids.rs) and
checked field by field against what was sent and received."""

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
import uuid

from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as ProtoLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status, StatusCode

import openai
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

import trail
from trail import check

OTLP_URL = os.environ["LLMTRAIL_OTLP_URL"]
AUTH = {"Authorization": "Bearer " + trail.TOKEN}
RESOURCE = Resource.create({"service.name": "support-bot", "deployment.environment.name": "test"})


class Checked(SpanExporter):
    """Passes spans to the real exporter and remembers what it said."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []
        self.spans = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        self.spans.extend(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()


def tracer_with(exporter, batch=False):
    """A tracer exporting through `exporter`: span by span, or in batches (then call
    `checked.flush()` to send them)."""
    checked = Checked(exporter)
    provider = TracerProvider(resource=RESOURCE)
    processor = BatchSpanProcessor(checked) if batch else SimpleSpanProcessor(checked)
    provider.add_span_processor(processor)
    checked.flush = provider.force_flush
    return provider.get_tracer("llmtrail.interop", "1.0"), checked


def event_id(trace_id, span_id, role, t_ns):
    """The id llmtrail gives the event `role` of a span (documented in llmtrail-otlp's ids.rs)."""
    h = hashlib.sha256(b"llmtrail-otlp/v1\0" + role.encode() + b"\0"
                       + trace_id.to_bytes(16, "big") + span_id.to_bytes(8, "big")).digest()
    b = bytearray((t_ns // 1_000_000).to_bytes(6, "big")) + bytearray(10)
    b[6] = 0x70 | (h[0] & 0x0F)
    b[7] = h[1]
    b[8] = 0x80 | (h[2] & 0x3F)
    b[9:16] = h[3:10]
    return str(uuid.UUID(bytes=bytes(b)))


def ids_of(span, prefix="otlp.traces"):
    ctx = span.context
    return {
        "request": event_id(ctx.trace_id, ctx.span_id, prefix + "/llm.request", span.start_time),
        "response": event_id(ctx.trace_id, ctx.span_id, prefix + "/llm.response", span.end_time),
        "tool": event_id(ctx.trace_id, ctx.span_id, prefix + "/tool.call", span.start_time),
    }


def trace_of(span):
    t = {"trace_id": "%032x" % span.context.trace_id, "span_id": "%016x" % span.context.span_id}
    if span.parent is not None:
        t["parent_span_id"] = "%016x" % span.parent.span_id
    return t


def absent(event_id):
    req = urllib.request.Request(trail.URL + "/api/v1/events/" + event_id,
                                 headers={"authorization": "Bearer " + trail.TOKEN})
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        return e.code == 404
    return False


def by_name(checked, name):
    found = [s for s in checked.spans if s.name == name]
    check(len(found) == 1, "span %s exported %d times" % (name, len(found)))
    return found[0]


NEW_INPUT = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Oslo?"}]}]
NEW_OUTPUT = [{"role": "assistant", "finish_reason": "tool_call", "parts": [
    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]}]
SYSTEM = [{"type": "text", "content": "You are a weather bot."}]


def protobuf_spans_new_and_old_forms():
    exporter = ProtoSpanExporter(endpoint=trail.URL + "/v1/traces", headers=AUTH,
                                 compression=Compression.Gzip)
    # Batched, as SDK setups export: the spans of the run go together.
    tracer, checked = tracer_with(exporter, batch=True)
    who = {"enduser.id": "u-1042", "session.id": "s-77"}
    with tracer.start_as_current_span("invoke_agent helper", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper",
            "gen_ai.provider.name": "openai", **who}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 200,
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.id": "chatcmpl-42",
                "gen_ai.response.finish_reasons": ["tool_calls"],
                "gen_ai.usage.input_tokens": 31,
                "gen_ai.usage.output_tokens": 9,
                "gen_ai.conversation.id": "conv-9",
                "server.address": "api.openai.com",
                "gen_ai.input.messages": json.dumps(NEW_INPUT),
                "gen_ai.output.messages": json.dumps(NEW_OUTPUT),
                "gen_ai.system_instructions": json.dumps(SYSTEM),
                **who}):
            pass
        with tracer.start_as_current_span("execute_tool get_weather", attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": json.dumps({"city": "Oslo"}),
                "gen_ai.tool.call.result": json.dumps({"temp_c": 3, "sky": "snow"}),
                **who}):
            pass
    with tracer.start_as_current_span("openai.chat", attributes={
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 14,
            "gen_ai.usage.completion_tokens": 5,
            "llm.usage.total_tokens": 19,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be terse.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Capital of France?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Paris.",
            "gen_ai.completion.0.finish_reason": "stop",
            "user.id": "u-7"}):
        pass
    with tracer.start_as_current_span("GET /health", attributes={
            "http.request.method": "GET", "url.path": "/health", "user.id": "u-7"}):
        pass
    with tracer.start_as_current_span("chat claude-sonnet", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet", "error.type": "timeout"}) as s:
        s.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    checked.flush()
    check(checked.results and all(r == SpanExportResult.SUCCESS for r in checked.results),
          checked.results)

    # The model call: request at the span's start, response at its end, exact content.
    chat = by_name(checked, "chat gpt-4o")
    ids = ids_of(chat)
    req = trail.event(ids["request"])
    check(req["kind"] == "llm.request", req)
    check(req["trace"] == trace_of(chat), (req["trace"], trace_of(chat)))
    check(req["actor"] == {"user": "u-1042", "session": "s-77", "agent": "support-bot"},
          req["actor"])
    body = req["body"]
    check(body["gen_ai.provider.name"] == "openai", body)
    check(body["gen_ai.request.model"] == "gpt-4o", body)
    check(body["gen_ai.operation.name"] == "chat", body)
    check(body["gen_ai.conversation.id"] == "conv-9", body)
    check(body["parameters"] == {"gen_ai.request.temperature": 0.2,
                                 "gen_ai.request.max_tokens": 200}, body["parameters"])
    check(body["gen_ai.input.messages"] == NEW_INPUT, body["gen_ai.input.messages"])
    check(body["gen_ai.system_instructions"] == SYSTEM, body["gen_ai.system_instructions"])
    check(body["attributes"] == {
        "llmtrail.api": "otlp.traces", "server.address": "api.openai.com",
        "otel.scope.name": "llmtrail.interop", "otel.span.name": "chat gpt-4o",
        "service.name": "support-bot"}, body["attributes"])
    # raw keeps the rest of the span, not the prompt and output a second time.
    raw = json.loads(body["raw"])
    check(raw["attributes"] == who, raw["attributes"])
    check(raw["name"] == "chat gpt-4o", raw)
    check(raw["resource"]["deployment.environment.name"] == "test", raw)
    resp = trail.event(ids["response"])
    check(resp["kind"] == "llm.response", resp)
    check(trail.response(ids["request"])["id"] == ids["response"], "response not linked")
    rb = resp["body"]
    check(rb["request_id"] == ids["request"], rb)
    check(rb["status"] == "ok", rb)
    check(rb["gen_ai.response.id"] == "chatcmpl-42", rb)
    check(rb["gen_ai.response.model"] == "gpt-4o-2024-08-06", rb)
    check(rb["gen_ai.response.finish_reasons"] == ["tool_calls"], rb)
    check(rb["usage"] == {"gen_ai.usage.input_tokens": 31, "gen_ai.usage.output_tokens": 9},
          rb["usage"])
    check(rb["gen_ai.output.messages"] == NEW_OUTPUT, rb["gen_ai.output.messages"])
    check(rb["latency_ms"] == (chat.end_time - chat.start_time) / 1e6, rb["latency_ms"])

    # The agent span is a model-call-like span too; its agent name wins over service.name.
    agent = by_name(checked, "invoke_agent helper")
    areq = trail.event(ids_of(agent)["request"])
    check(areq["body"]["gen_ai.operation.name"] == "invoke_agent", areq["body"])
    check(areq["actor"]["agent"] == "helper", areq["actor"])
    check("parent_span_id" not in areq["trace"], areq["trace"])
    check(req["trace"]["parent_span_id"] == areq["trace"]["span_id"], "parent link lost")

    # The tool span: one tool.call, arguments and result as JSON.
    tool = by_name(checked, "execute_tool get_weather")
    tids = ids_of(tool)
    call = trail.event(tids["tool"])
    check(call["kind"] == "tool.call", call)
    check(call["trace"] == trace_of(tool), call["trace"])
    cb = call["body"]
    check(cb["gen_ai.tool.name"] == "get_weather", cb)
    check(cb["gen_ai.tool.call.id"] == "call_1", cb)
    check(cb["gen_ai.tool.type"] == "function", cb)
    check(cb["status"] == "ok" and "is_error" not in cb, cb)
    check(cb["gen_ai.tool.call.arguments"] == {"city": "Oslo"}, cb)
    check(cb["gen_ai.tool.call.result"] == {"temp_c": 3, "sky": "snow"}, cb)
    check(cb["duration_ms"] == (tool.end_time - tool.start_time) / 1e6, cb)
    check(absent(tids["request"]) and absent(tids["response"]), "tool span made model events")
    # Exported with the chat span that asked for it: the tool call points at that response.
    check(cb["request_id"] == ids["response"], cb)
    check(tids["tool"] in [e["id"] for e in trail.related(ids["response"], "tool.call")],
          "tool call not related to the response")

    # The older indexed attributes.
    old = by_name(checked, "openai.chat")
    oids = ids_of(old)
    oreq = trail.event(oids["request"])
    check(oreq["actor"] == {"user": "u-7", "agent": "support-bot"}, oreq["actor"])
    ob = oreq["body"]
    check(ob["gen_ai.provider.name"] == "openai" and ob["gen_ai.request.model"] == "gpt-4o-mini", ob)
    check(ob["gen_ai.operation.name"] == "chat", ob)
    check(ob["gen_ai.input.messages"] == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}],
        ob["gen_ai.input.messages"])
    check(not any(k.startswith("gen_ai.prompt") for k in ob["attributes"]), ob["attributes"])
    oresp = trail.event(oids["response"])["body"]
    check(oresp["gen_ai.output.messages"] == [{"role": "assistant", "finish_reason": "stop",
                                              "parts": [{"type": "text", "content": "Paris."}]}],
          oresp["gen_ai.output.messages"])
    check(oresp["gen_ai.response.finish_reasons"] == ["stop"], oresp)
    check(oresp["usage"] == {"gen_ai.usage.input_tokens": 14, "gen_ai.usage.output_tokens": 5,
                             "total_tokens": 19}, oresp["usage"])

    # A failed call is recorded as an error, the status text as content.
    failed = by_name(checked, "chat claude-sonnet")
    fresp = trail.event(ids_of(failed)["response"])["body"]
    check(fresp["status"] == "error", fresp)
    check(fresp["error"] == {"error.type": "timeout"}, fresp)
    check(fresp["error_message"] == "upstream timed out", fresp)

    # Not GenAI: no event of any kind.
    health = ids_of(by_name(checked, "GET /health"))
    check(all(absent(i) for i in health.values()), "a plain HTTP span became an event")

    # Exported again (a retry after a lost answer): recorded once.
    before = trail._get("/api/v1/health")["size"]
    again = ProtoSpanExporter(endpoint=trail.URL + "/v1/traces", headers=AUTH)
    check(again.export([chat, tool]) == SpanExportResult.SUCCESS, "re-export failed")
    check(trail._get("/api/v1/health")["size"] == before, "the retry was recorded twice")


def json_spans_on_the_otlp_listener():
    tracer, checked = tracer_with(JsonSpanExporter(endpoint=OTLP_URL + "/v1/traces", headers=AUTH))
    with tracer.start_as_current_span("generate_content gemini", attributes={
            "gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
            "gen_ai.request.model": "gemini-2.0-flash", "gen_ai.request.seed": 7,
            "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 2,
            "gen_ai.input.messages": json.dumps(NEW_INPUT), "enduser.id": "u-json"}):
        pass
    check(checked.results == [SpanExportResult.SUCCESS], checked.results)
    span = checked.spans[0]
    ids = ids_of(span)
    req = trail.event(ids["request"])
    check(req["trace"] == trace_of(span), req["trace"])
    check(req["actor"] == {"user": "u-json", "agent": "support-bot"}, req["actor"])
    check(req["body"]["gen_ai.operation.name"] == "generate_content", req["body"])
    check(req["body"]["parameters"] == {"gen_ai.request.seed": 7}, req["body"])
    check(req["body"]["gen_ai.input.messages"] == NEW_INPUT, req["body"])
    resp = trail.event(ids["response"])["body"]
    check(resp["usage"] == {"gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 2},
          resp)


class _NoExport(SpanExporter):
    """The span of the log events is not exported: only the events are."""

    def export(self, spans):
        return SpanExportResult.SUCCESS


def log_events(exporter, t0):
    """Emits the GenAI message events of one call inside a span, as the event form of the
    GenAI instrumentations does; returns the span and the times of the first input and of the
    choice. The batch processor (what SDK setups use) sends the events of the call in one export,
    which is what groups them into one llm.request and one llm.response."""
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("opentelemetry.instrumentation.openai_v2")
    tracer, checked = tracer_with(_NoExport())
    attrs = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "user.id": "u-logs"}
    with tracer.start_as_current_span("chat gpt-4o"):
        logger.emit(event_name="gen_ai.system.message", body={"content": "Be kind."},
                    attributes=attrs, timestamp=t0)
        logger.emit(event_name="gen_ai.user.message", body={"content": "Hi there"},
                    attributes=attrs, timestamp=t0 + 1_000_000)
        logger.emit(event_name="gen_ai.choice", body={
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello!"}},
            attributes=attrs, timestamp=t0 + 250_000_000)
        logger.emit(event_name="app.unrelated", body="not GenAI", attributes=attrs,
                    timestamp=t0 + 300_000_000)
    provider.force_flush()
    return checked.spans[0], t0, t0 + 250_000_000


def check_log_call(span, t_in, t_out):
    ctx = span.context
    rid = event_id(ctx.trace_id, ctx.span_id, "otlp.logs/llm.request", t_in)
    sid = event_id(ctx.trace_id, ctx.span_id, "otlp.logs/llm.response", t_out)
    req = trail.event(rid)
    check(req["trace"] == {"trace_id": "%032x" % ctx.trace_id, "span_id": "%016x" % ctx.span_id},
          req["trace"])
    check(req["actor"] == {"user": "u-logs", "agent": "support-bot"}, req["actor"])
    b = req["body"]
    check(b["gen_ai.provider.name"] == "openai" and b["gen_ai.request.model"] == "gpt-4o", b)
    check(b["attributes"]["llmtrail.api"] == "otlp.logs", b["attributes"])
    check(b["gen_ai.input.messages"] == [
        {"role": "system", "parts": [{"type": "text", "content": "Be kind."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}],
        b["gen_ai.input.messages"])
    resp = trail.event(sid)["body"]
    check(resp["request_id"] == rid, resp)
    check(resp["gen_ai.output.messages"] == [{"role": "assistant", "finish_reason": "stop",
                                             "parts": [{"type": "text", "content": "Hello!"}]}],
          resp["gen_ai.output.messages"])


def protobuf_log_events():
    exporter = ProtoLogExporter(endpoint=trail.URL + "/v1/logs", headers=AUTH,
                                compression=Compression.Gzip)
    span, t_in, t_out = log_events(exporter, time.time_ns())
    check_log_call(span, t_in, t_out)


def json_log_events_on_the_otlp_listener():
    exporter = JsonLogExporter(endpoint=OTLP_URL + "/v1/logs", headers=AUTH)
    span, t_in, t_out = log_events(exporter, time.time_ns())
    check_log_call(span, t_in, t_out)


def configured_by_the_environment_as_the_readme_says():
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = trail.URL
    os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=Bearer%20" + trail.TOKEN
    try:
        tracer, checked = tracer_with(ProtoSpanExporter())
        with tracer.start_as_current_span("chat env", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "m-env"}):
            pass
    finally:
        del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"], os.environ["OTEL_EXPORTER_OTLP_HEADERS"]
    check(checked.results == [SpanExportResult.SUCCESS], checked.results)
    req = trail.event(ids_of(checked.spans[0])["request"])
    check(req["body"]["gen_ai.request.model"] == "m-env", req["body"])


def no_token_no_record():
    tracer, checked = tracer_with(ProtoSpanExporter(endpoint=trail.URL + "/v1/traces"))
    with tracer.start_as_current_span("chat x", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "x"}):
        pass
    check(checked.results == [SpanExportResult.FAILURE], checked.results)
    check(absent(ids_of(checked.spans[0])["request"]), "recorded without a token")


def openai_instrumentation_around_the_openai_client():
    tracer_exporter = ProtoSpanExporter(endpoint=trail.URL + "/v1/traces", headers=AUTH)
    checked = Checked(tracer_exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(checked))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=os.environ["LLMTRAIL_MOCK_URL"] + "/v1",
                               api_key="sk-client-key", max_retries=0)
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
        question = {"role": "user", "content": "Weather in Paris?"}
        first = client.chat.completions.create(model="mock-tool", messages=[question], tools=tools)
        asked = first.choices[0].message.tool_calls[0]
        result = {"role": "tool", "tool_call_id": asked.id, "content": "18C and sunny"}
        second = client.chat.completions.create(
            model="mock-tool", tools=tools,
            messages=[question, first.choices[0].message.model_dump(exclude_none=True), result])
    finally:
        instrumentor.uninstrument()
    check(all(r == SpanExportResult.SUCCESS for r in checked.results), checked.results)
    check(len(checked.spans) == 2, [s.name for s in checked.spans])

    # The call that asked for the tool: prompt, tool definitions, the tool call, usage.
    ids = ids_of(checked.spans[0])
    req = trail.event(ids["request"])
    check(req["actor"] == {"agent": "weather-agent"}, req["actor"])
    b = req["body"]
    check(b["gen_ai.provider.name"] == "openai" and b["gen_ai.request.model"] == "mock-tool", b)
    check(b["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}],
        b["gen_ai.input.messages"])
    check([(d["name"], d["description"]) for d in b["gen_ai.tool.definitions"]]
          == [("get_weather", "Current weather")], b["gen_ai.tool.definitions"])
    resp = trail.event(ids["response"])["body"]
    check(resp["gen_ai.response.id"] == first.id, resp)
    parts = resp["gen_ai.output.messages"][0]["parts"]
    check(parts == [{"type": "tool_call", "id": asked.id, "name": asked.function.name,
                     "arguments": json.loads(asked.function.arguments)}], parts)
    check(resp["usage"]["gen_ai.usage.input_tokens"] == first.usage.prompt_tokens, resp["usage"])
    check(resp["usage"]["gen_ai.usage.output_tokens"] == first.usage.completion_tokens,
          resp["usage"])

    # The call that carried the tool's result back: the history and the final output.
    ids = ids_of(checked.spans[1])
    history = trail.event(ids["request"])["body"]["gen_ai.input.messages"]
    check(history[1]["parts"][0]["type"] == "tool_call", history)
    check(history[2] == {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": asked.id, "response": "18C and sunny"}]}, history)
    out = trail.event(ids["response"])
    check(trail.output_text(out) == second.choices[0].message.content, trail.output_text(out))
    check(out["body"]["gen_ai.response.finish_reasons"] == ["stop"], out["body"])


if __name__ == "__main__":
    trail.run([
        openai_instrumentation_around_the_openai_client,
        protobuf_spans_new_and_old_forms,
        json_spans_on_the_otlp_listener,
        protobuf_log_events,
        json_log_events_on_the_otlp_listener,
        configured_by_the_environment_as_the_readme_says,
        no_token_no_record,
    ])
