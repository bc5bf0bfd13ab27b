"""Tools for agents: function tools from Python functions, sandboxed built-ins, MCP servers' tools.

(The tool-call adapter that makes any model call tools is model plumbing: ``runtime.tool_adapter``.)
"""
