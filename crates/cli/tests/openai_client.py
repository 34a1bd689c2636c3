"""The official `openai` Python client against Alexandria's gateway: models, chat, completion,
streaming, and the error paths. Run by tests/it/gateway.rs as: BASE_URL API_KEY MODEL."""

import sys

import openai

base, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
messages = [{"role": "user", "content": "hello world"}]

ids = [m.id for m in client.models.list()]
assert model in ids, ids
assert client.models.retrieve(model).id == model
try:
    client.models.retrieve("no-such-model")
    raise AssertionError("an unknown model was retrieved")
except openai.NotFoundError as e:
    assert e.status_code == 404, e

chat = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0)
assert chat.object == "chat.completion", chat
assert chat.choices[0].message.role == "assistant"
assert chat.choices[0].finish_reason in ("stop", "length")
assert chat.usage.completion_tokens >= 1 and chat.usage.prompt_tokens >= 1
receipt = (chat.model_extra or {}).get("alexandria")
assert receipt and receipt["receipt_id"] and int(receipt["fee"]) > 0, chat.model_extra

again = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0)
assert again.choices[0].message.content == chat.choices[0].message.content, "greedy is deterministic"

text = client.completions.create(model=model, prompt="the world", max_tokens=5, temperature=0)
assert text.object == "text_completion" and isinstance(text.choices[0].text, str)

# Content as a list of text parts is the same conversation.
parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
same = client.chat.completions.create(model=model, messages=parts, max_tokens=8, temperature=0)
assert same.choices[0].message.content == chat.choices[0].message.content

# A streamed completion: every chunk has text (the last one "") and all share one id.
pieces = list(client.completions.create(model=model, prompt="the world", max_tokens=5, temperature=0, stream=True))
assert "".join(c.choices[0].text for c in pieces) == text.choices[0].text
assert len({c.id for c in pieces}) == 1, [c.id for c in pieces]

# Penalties are accepted in range and refused out of it, naming the parameter.
client.chat.completions.create(model=model, messages=messages, max_tokens=4, frequency_penalty=0.5, presence_penalty=0.5)
for bad in [dict(frequency_penalty=3), dict(presence_penalty=-2.5)]:
    try:
        client.chat.completions.create(model=model, messages=messages, max_tokens=4, **bad)
        raise AssertionError(f"{bad} accepted")
    except openai.BadRequestError as e:
        assert e.param == next(iter(bad)), e

# What the gateway does not implement is refused by name, not silently dropped.
tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
for extra, param in [
    (dict(tools=[tool]), "tools"),
    (dict(response_format={"type": "json_object"}), "response_format"),
    (dict(logprobs=True), "logprobs"),
]:
    try:
        client.chat.completions.create(model=model, messages=messages, max_tokens=4, **extra)
        raise AssertionError(f"{param} accepted")
    except openai.BadRequestError as e:
        assert e.param == param and e.code == "unsupported_parameter", e
# Parameters at their "off" value are what clients send by default: accepted.
client.chat.completions.create(model=model, messages=messages, max_tokens=2, response_format={"type": "text"},
    tool_choice="none", logprobs=False, n=1, stream_options=None)
history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}, {"role": "user", "content": "hello"}]
client.chat.completions.create(model=model, messages=history, max_tokens=2)
assert client.completions.create(model=model, prompt=["the world"], max_tokens=5, temperature=0).choices[0].text == text.choices[0].text
try:
    client.completions.create(model=model, prompt=["one", "two"], max_tokens=2)
    raise AssertionError("two prompts accepted")
except openai.BadRequestError as e:
    assert e.param == "prompt", e

try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}], max_tokens=4)
    raise AssertionError("an image part accepted")
except openai.BadRequestError as e:
    assert e.code == "unsupported_content", e

# Embeddings: the client asks for base64 by default and decodes it; floats on request.
emb = client.embeddings.create(model=model, input=["hello world", "the world"])
assert [d.index for d in emb.data] == [0, 1] and emb.usage.prompt_tokens >= 2
vec = emb.data[0].embedding
assert len(vec) > 8 and abs(sum(x * x for x in vec) - 1.0) < 1e-3, len(vec)
floats = client.embeddings.create(model=model, input="hello world", encoding_format="float")
assert all(abs(a - b) < 1e-6 for a, b in zip(floats.data[0].embedding, vec))
try:
    client.embeddings.create(model=model, input="hello", dimensions=8)
    raise AssertionError("dimensions accepted")
except openai.BadRequestError as e:
    assert e.param == "dimensions", e

# The bearer scheme is case-insensitive.
import json, urllib.request
req = urllib.request.Request(base + "/v1/chat/completions", method="POST",
    data=json.dumps({"model": model, "messages": messages, "max_tokens": 2}).encode(),
    headers={"authorization": "bearer " + key, "content-type": "application/json"})
with urllib.request.urlopen(req) as r:
    assert r.status == 200

chunks = list(
    client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0, stream=True)
)
streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert streamed == chat.choices[0].message.content, (streamed, chat.choices[0].message.content)
assert len({c.id for c in chunks}) == 1, [c.id for c in chunks]

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404 and e.code == "model_not_found", e

try:
    client.chat.completions.create(model=model, messages=messages, max_tokens=-5)
    raise AssertionError("negative max_tokens accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400, e

try:
    openai.OpenAI(base_url=base + "/v1", api_key="alx-sk-wrong", max_retries=0).chat.completions.create(
        model=model, messages=messages
    )
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401, e

print("openai client: ok")
