"""The call grammars stay within llguidance's lexer budget on the real model's vocabulary.

llguidance derives its lexer lazily, with a fuel budget per token; when a step runs out of it
("lexer error: too many expressions constructed"), llama.cpp drops the grammar and the model
goes on unconstrained. Found on a development case: after ``"pet_name": "rabbit`` (a value
the grammar bars on its own, so the lexer has to keep telling "rabbit" from "rabbit, in for a
nail trim" across every split of the two copies) the call came back without its required
``species``. These tests walk the grammar with the embedded model's own tokenizer.
"""

from __future__ import annotations

import json

import llguidance
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from cupola.engines.base import Capabilities
from cupola.runtime.tool_adapter import adapt_request, plan_tools

VET = {"type": "function", "function": {
    "name": "vet.book_appointment", "description": "Book a vet appointment.",
    "parameters": {"type": "object", "required": ["pet_name", "species", "reason", "date"], "properties": {
        "pet_name": {"type": "string"}, "species": {"type": "string", "enum": ["dog", "cat", "rabbit", "bird"]},
        "reason": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD"}}}}}
REQUEST = "Book Biscuit, my rabbit, in for a nail trim on 2026-04-02."


@pytest.fixture(scope="module")
def vocabulary(gguf_path):
    """The embedded model's tokenizer, rebuilt from its GGUF (byte-level BPE): for llguidance and for
    turning text into the model's tokens."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_path)).fields

    def strings(name: str) -> list[str]:
        field = fields[name]
        return [bytes(field.parts[i]).decode() for i in field.data]

    tokens = strings("tokenizer.ggml.tokens")
    bpe = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)},
                               [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    eos = int(fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    return llguidance.LLTokenizer(bpe.to_str(), eos_token=eos), bpe


def _grammar() -> str:
    body = {"messages": [{"role": "user", "content": REQUEST}], "tools": [VET], "tool_choice": "required",
            "max_tokens": 256}
    return adapt_request(body, plan_tools(body, Capabilities(chat=True, grammar=True, json_schema=True)))["grammar"]


def _walk(vocabulary, grammar: str, text: str) -> llguidance.LLMatcher:
    """The matcher after the model's tokens of ``text``, a mask computed before each (as the engine does)."""
    tokenizer, bpe = vocabulary
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    for token in bpe.encode(text).ids:
        matcher.compute_logit_bias()
        assert not matcher.is_error(), matcher.get_error()
        assert matcher.consume_token(token), f"the grammar refused {bpe.decode([token])!r} after a valid prefix"
    return matcher


def test_a_copy_that_starts_like_a_barred_value_keeps_the_lexer_in_budget(vocabulary):
    """The model's tokens of ``"pet_name": "rabbit, in for``: wherever the grammar stops them (it bars
    "rabbit" alone), its lexer never runs out of fuel on the way."""
    tokenizer, bpe = vocabulary
    head = '<tool_call>{"name": "vet.book_appointment", "arguments": {"pet_name": "'
    matcher = llguidance.LLMatcher(tokenizer, _grammar(), log_level=0)
    for token in bpe.encode(head + "rabbit, in for").ids:
        matcher.compute_logit_bias()
        assert not matcher.is_error(), matcher.get_error()
        if not matcher.consume_token(token):
            assert "too many expressions" not in (matcher.get_error() or ""), matcher.get_error()
            break


def test_the_meant_call_walks_through_on_the_models_tokens(vocabulary):
    call = {"name": "vet.book_appointment", "arguments": {"pet_name": "Biscuit", "species": "rabbit",
                                                         "reason": "nail trim", "date": "2026-04-02"}}
    matcher = _walk(vocabulary, _grammar(), f"<tool_call>{json.dumps(call)}</tool_call>")
    assert matcher.is_accepting()
