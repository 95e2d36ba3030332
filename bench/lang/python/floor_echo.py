#!@PLUGVISOR_PYTHON_SHEBANG@
"""bench floor-echo (Python): the least a Python plugin's call can cost.

The same wire as bench-floor-server (bench/floor_wire.hpp): each message is a
4-byte little-endian length and that many bytes; the echo goes back in one
sendall. One thread per connection, as the SDK's server has. Usage:
``floor-echo unix PATH``; prints PATH, serves until stdin reaches end of file.
"""
import os
import socket
import sys
import threading


def serve(conn: socket.socket) -> None:
    buffer = bytearray(64 * 1024)
    view = memoryview(buffer)
    try:
        while True:
            have = 0
            want = 4
            known = False
            while have < want:
                n = conn.recv_into(view[have:])
                if n == 0:
                    return
                have += n
                if not known and have >= 4:
                    known = True
                    want = 4 + int.from_bytes(view[:4], "little")
                    if want > len(buffer):
                        view.release()  # a bytearray with a view cannot grow
                        buffer.extend(bytes(want - len(buffer)))
                        view = memoryview(buffer)
            conn.sendall(view[:want])
    finally:
        conn.close()


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "unix":
        print("usage: floor-echo unix PATH", file=sys.stderr)
        return 2
    path = sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print(path, flush=True)
    sys.stdin.buffer.read()  # until the benchmark closes our stdin
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
