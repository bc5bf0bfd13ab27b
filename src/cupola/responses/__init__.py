"""The OpenAI Responses API over the runtime: item conversion, streaming events, stored responses."""
