"""The Conversations API (/v1/conversations) on the ASGI app: shapes, items, pagination, errors,
all-or-nothing writes, persistence across a restart, and the official openai client."""

from __future__ import annotations

import openai
import pytest
from fastapi.testclient import TestClient

from cupola.conversations.store import ConversationStore
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app

from conftest import FakeFactory, fake_store
from test_http_api import assert_openai_error


def make(settings):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    return TestClient(create_app(settings, runtime))


@pytest.fixture
def client(settings):
    with make(settings) as c:
        yield c


def user(text):
    return {"type": "message", "role": "user", "content": text}


def test_create_retrieve_update_delete(client):
    conv = client.post("/v1/conversations", json={"metadata": {"title": "Trip"}, "items": [user("hi")]}).json()
    assert conv["object"] == "conversation" and conv["id"].startswith("conv_")
    assert conv["metadata"] == {"title": "Trip"} and isinstance(conv["created_at"], int)
    assert client.get(f"/v1/conversations/{conv['id']}").json()["metadata"] == {"title": "Trip"}
    updated = client.post(f"/v1/conversations/{conv['id']}", json={"metadata": {"title": "Paris"}}).json()
    assert updated["metadata"] == {"title": "Paris"}
    gone = client.delete(f"/v1/conversations/{conv['id']}").json()
    assert gone == {"id": conv["id"], "object": "conversation.deleted", "deleted": True}
    assert_openai_error(client.get(f"/v1/conversations/{conv['id']}"), 404, "conversation_id")
    assert_openai_error(client.get(f"/v1/conversations/{conv['id']}/items"), 404, "conversation_id")


def test_items_are_normalized_listed_and_paged(client):
    conv = client.post("/v1/conversations", json={"items": [user("one")]}).json()
    cid = conv["id"]
    added = client.post(f"/v1/conversations/{cid}/items", json={"items": [
        {"type": "message", "role": "assistant", "content": "two", "model": "smollm2-135m",
         "usage": {"output_tokens": 1}},
        {"type": "mcp_call", "server_label": "cupola", "name": "calculator", "arguments": "{}", "output": "4"},
        user("three")]}).json()
    assert added["object"] == "list" and len(added["data"]) == 3
    first = added["data"][0]
    assert first["id"].startswith("msg_") and first["status"] == "completed"
    assert first["content"] == [{"type": "output_text", "text": "two"}]
    assert first["model"] == "smollm2-135m"  # extra fields are kept as given
    newest = client.get(f"/v1/conversations/{cid}/items").json()  # desc by default, as OpenAI
    assert [i["type"] for i in newest["data"]] == ["message", "mcp_call", "message", "message"]
    assert newest["data"][0]["content"][0]["text"] == "three"
    page = client.get(f"/v1/conversations/{cid}/items", params={"order": "asc", "limit": 2}).json()
    assert [i["content"][0]["text"] for i in page["data"]] == ["one", "two"] and page["has_more"]
    rest = client.get(f"/v1/conversations/{cid}/items",
                      params={"order": "asc", "limit": 10, "after": page["last_id"]}).json()
    assert [i["type"] for i in rest["data"]] == ["mcp_call", "message"] and not rest["has_more"]
    one = client.get(f"/v1/conversations/{cid}/items/{first['id']}").json()
    assert one == first
    after_delete = client.delete(f"/v1/conversations/{cid}/items/{first['id']}").json()
    assert after_delete["id"] == cid and after_delete["object"] == "conversation"
    assert_openai_error(client.get(f"/v1/conversations/{cid}/items/{first['id']}"), 404, "item_id")


def test_conversations_are_listed_most_recently_updated_first(client):
    ids = [client.post("/v1/conversations", json={"metadata": {"title": f"c{i}"}}).json()["id"] for i in range(3)]
    client.post(f"/v1/conversations/{ids[0]}/items", json={"items": [user("bump")]})
    listed = client.get("/v1/conversations").json()
    assert [c["id"] for c in listed["data"]] == [ids[0], ids[2], ids[1]]
    page = client.get("/v1/conversations", params={"limit": 2}).json()
    assert page["has_more"] and len(page["data"]) == 2
    rest = client.get("/v1/conversations", params={"after": page["last_id"]}).json()
    assert [c["id"] for c in rest["data"]] == [ids[1]] and not rest["has_more"]


@pytest.mark.parametrize("body, param", [
    ({"items": [{"type": "message", "role": "robot", "content": "x"}]}, "items.0.role"),
    ({"items": [{"type": "image", "url": "x"}]}, "items.0.type"),
    ({"items": [{"type": "message", "role": "user", "content": [{"type": "input_image"}]}]}, "items.0.content.0"),
    ({"items": [{"type": "mcp_call", "name": "x"}]}, "items.0.arguments"),
    ({"items": [user(str(i)) for i in range(21)]}, "items"),
    ({"metadata": {"title": "x" * 513}}, "metadata.title"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"n": 1}}, "metadata.n"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_input_is_a_400_and_creates_nothing(client, body, param):
    assert_openai_error(client.post("/v1/conversations", json=body), 400, param)
    assert client.get("/v1/conversations").json()["data"] == []


def test_a_bad_batch_adds_nothing(client):
    cid = client.post("/v1/conversations", json={"items": [{**user("hi"), "id": "msg_a"}]}).json()["id"]
    assert_openai_error(client.post(f"/v1/conversations/{cid}/items", json={"items": [user("ok"), {"type": "nope"}]}),
                        400, "items.1.type")
    assert_openai_error(client.post(f"/v1/conversations/{cid}/items", json={"items": [user("ok"), {**user("x"),
                                                                                                "id": "msg_a"}]}),
                        400, "items")
    assert_openai_error(client.post(f"/v1/conversations/{cid}/items", json={"items": []}), 400, "items")
    items = client.get(f"/v1/conversations/{cid}/items").json()["data"]
    assert [i["id"] for i in items] == ["msg_a"]
    assert_openai_error(client.get(f"/v1/conversations/{cid}/items", params={"limit": 0}), 400, "limit")
    assert_openai_error(client.post("/v1/conversations/conv_nope/items", json={"items": [user("x")]}), 404)


def test_conversations_survive_a_restart(settings):
    with make(settings) as c:
        cid = c.post("/v1/conversations", json={"metadata": {"title": "kept"}, "items": [user("remember me")]}).json()["id"]
    with make(settings) as c:
        assert c.get(f"/v1/conversations/{cid}").json()["metadata"]["title"] == "kept"
        assert c.get(f"/v1/conversations/{cid}/items").json()["data"][0]["content"][0]["text"] == "remember me"


def test_the_official_openai_client(client):
    oa = openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=client, max_retries=0)
    conv = oa.conversations.create(metadata={"title": "From the SDK"}, items=[user("hello")])
    assert oa.conversations.retrieve(conv.id).metadata == {"title": "From the SDK"}
    oa.conversations.items.create(conv.id, items=[{"type": "message", "role": "assistant", "content": "hi!"}])
    items = oa.conversations.items.list(conv.id, order="asc")
    assert [i.content[0].text for i in items.data] == ["hello", "hi!"]
    assert oa.conversations.update(conv.id, metadata={"title": "Renamed"}).metadata["title"] == "Renamed"
    assert oa.conversations.delete(conv.id).deleted


def test_store_deletes_items_with_the_conversation(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    conv = store.create(items=[user("x")])
    store.delete(conv["id"])
    assert store.db.query("SELECT count(*) FROM items")[0][0] == 0
    store.close()
