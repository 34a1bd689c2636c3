"""The official `openai` Python client against Alexandria's gateway: models, chat, completion,
streaming, and the error paths. Run by tests/it/gateway.rs as: BASE_URL API_KEY MODEL."""

import sys

import openai

base, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
messages = [{"role": "user", "content": "hello world"}]

ids = [m.id for m in client.models.list()]
assert model in ids, ids

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

chunks = list(
    client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0, stream=True)
)
streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert streamed == chat.choices[0].message.content, (streamed, chat.choices[0].message.content)

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
