"""bench-py-echo: the Python SDK's echo, the plugin plugvisor-bench calls to
time the SDK against a raw Unix-socket echo in Python (floor_echo.py).

One type of the dataProcessor contract, "py-echo": returns its input.
"""

from plugvisor_sdk import Plugin

plugin = Plugin(name="bench-py-echo", version="1.0.0", description="echo, for plugvisor-bench")


@plugin.data_processor("py-echo", description="returns its input")
def echo(data: bytes) -> bytes:
    return data
