#!/usr/bin/env python3
"""The TCP baseline for scripts/rudp-netns.sh: the same 64-byte messages
(index + send timestamp) over one TCP connection (TCP_NODELAY), at most WINDOW
in flight, echoed back; prints the rudp-bench line format. One-way = RTT/2.

  tcp_echo_bench.py serve HOST PORT
  tcp_echo_bench.py bench HOST PORT MESSAGES WINDOW
"""
import socket, struct, sys, time

SIZE = 64

def serve(host, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
        conn.close()

def bench(host, port, messages, window):
    conn = socket.create_connection((host, port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pad = b"\x5a" * (SIZE - 16)
    samples = []
    sent = received = 0
    buffer = b""
    start = time.monotonic_ns()
    while received < messages:
        while sent < messages and sent - received < window:
            conn.sendall(struct.pack("<QQ", sent, time.monotonic_ns()) + pad)
            sent += 1
        data = conn.recv(65536)
        if not data:
            break
        buffer += data
        now = time.monotonic_ns()
        while len(buffer) >= SIZE:
            _, stamp = struct.unpack_from("<QQ", buffer)
            buffer = buffer[SIZE:]
            samples.append((now - stamp) // 2)
            received += 1
    elapsed = (time.monotonic_ns() - start) / 1e9
    samples.sort()
    def pct(p):
        return samples[min(len(samples) - 1, int(len(samples) * p / 100))] / 1000 if samples else 0
    print(f"msgs_per_s={int(received / elapsed)} delivered={received} resent=na "
          f"p50_us={pct(50):.1f} p99_us={pct(99):.1f} p999_us={pct(99.9):.1f}")
    return 0 if received == messages else 1

if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
