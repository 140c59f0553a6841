"""FlowUI's tests (pytest)."""
