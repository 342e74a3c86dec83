#!/usr/bin/python3
"""libtorrent 2.0 (Debian python3-libtorrent) as the peer for the µTP interop tests.

TCP is disabled in every session (enable_outgoing_tcp / enable_incoming_tcp false,
uTP true), so each byte crosses libtorrent's own µTP stack. Results are printed as
one `key=value ...` line on stdout; progress on stderr.

  libtorrent_peer.py seed  --dir D --size N [--piece-length P]
      makes D/payload.bin (deterministic bytes) and D/payload.torrent, seeds it on
      127.0.0.1 and prints `ready port=<udp port> infohash=<hex> size=N
      piece_length=P file=<path> torrent=<path>`; seeds until stdin closes.
  libtorrent_peer.py make  --dir D --size N [--piece-length P]
      only makes the payload and the torrent: `made size=N piece_length=P
      infohash=<hex> file=<path> torrent=<path>`.
  libtorrent_peer.py leech --torrent T --peer HOST:PORT --dir D [--timeout S]
      downloads T from that peer only (libtorrent checks every piece's SHA-1) and
      prints `done bytes=N seconds=S` (exit 0) or `failed ...` (exit 1).
  libtorrent_peer.py bench --dir D --size N [--timeout S]
      libtorrent seeding to libtorrent over uTP on loopback: `bench bytes=N
      seconds=S mbytes_per_s=X`.
"""
import argparse
import hashlib
import os
import sys
import time

import libtorrent as lt


def settings():
    return {
        "listen_interfaces": "127.0.0.1:0",
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        # Plain BEP 3 handshakes (the tests' peer does not speak MSE/PE obfuscation).
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.enabled),
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    }


def make_payload(path, size):
    # Deterministic bytes: SHA-256 counter stream, so a test can recompute them.
    with open(path, "wb") as out:
        counter = 0
        written = 0
        while written < size:
            block = hashlib.sha256(counter.to_bytes(8, "little")).digest()
            take = min(len(block), size - written)
            out.write(block[:take])
            written += take
            counter += 1


def make_torrent(directory, size, piece_length):
    data = os.path.join(directory, "payload.bin")
    make_payload(data, size)
    storage = lt.file_storage()
    lt.add_files(storage, data)
    # v1 only: the tests speak the BEP 3 handshake with the SHA-1 info hash.
    torrent = lt.create_torrent(storage, piece_length, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(torrent, directory)
    path = os.path.join(directory, "payload.torrent")
    with open(path, "wb") as out:
        out.write(lt.bencode(torrent.generate()))
    return data, path


def wait_seeding(session, handle, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = handle.status()
        if status.is_seeding:
            return True
        time.sleep(0.05)
    return False


def seed(args):
    data, torrent_path = make_torrent(args.dir, args.size, args.piece_length)
    session = lt.session(settings())
    info = lt.torrent_info(torrent_path)
    handle = session.add_torrent({"ti": info, "save_path": args.dir})
    if not wait_seeding(session, handle, 60):
        print("failed reason=not_seeding", flush=True)
        return 1
    print("ready port=%d infohash=%s size=%d piece_length=%d file=%s torrent=%s"
          % (session.listen_port(), str(info.info_hash()), args.size, info.piece_length(), data, torrent_path), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    status = handle.status()
    print("seed_done uploaded=%d" % status.total_payload_upload, flush=True)
    return 0


def make(args):
    data, torrent_path = make_torrent(args.dir, args.size, args.piece_length)
    info = lt.torrent_info(torrent_path)
    print("made size=%d piece_length=%d infohash=%s file=%s torrent=%s"
          % (args.size, info.piece_length(), str(info.info_hash()), data, torrent_path), flush=True)
    return 0


def leech(args):
    session = lt.session(settings())
    info = lt.torrent_info(args.torrent)
    handle = session.add_torrent({"ti": info, "save_path": args.dir})
    host, port = args.peer.rsplit(":", 1)
    start = time.time()
    handle.connect_peer((host, int(port)))
    deadline = start + args.timeout
    last = 0
    while time.time() < deadline:
        status = handle.status()
        if status.is_seeding:
            seconds = time.time() - start
            print("done bytes=%d seconds=%.3f" % (status.total_done, seconds), flush=True)
            return 0
        if time.time() - last > 1:
            last = time.time()
            print("progress done=%d peers=%d" % (status.total_done, status.num_peers), file=sys.stderr, flush=True)
            handle.connect_peer((host, int(port)))
        time.sleep(0.02)
    print("failed bytes=%d reason=timeout" % handle.status().total_done, flush=True)
    return 1


def bench(args):
    seed_dir = os.path.join(args.dir, "seed")
    leech_dir = os.path.join(args.dir, "leech")
    os.makedirs(seed_dir, exist_ok=True)
    os.makedirs(leech_dir, exist_ok=True)
    _, torrent_path = make_torrent(seed_dir, args.size, args.piece_length)
    info = lt.torrent_info(torrent_path)
    seeder = lt.session(settings())
    seed_handle = seeder.add_torrent({"ti": info, "save_path": seed_dir})
    if not wait_seeding(seeder, seed_handle, 60):
        print("failed reason=not_seeding", flush=True)
        return 1
    leecher = lt.session(settings())
    handle = leecher.add_torrent({"ti": lt.torrent_info(torrent_path), "save_path": leech_dir})
    start = time.time()
    handle.connect_peer(("127.0.0.1", seeder.listen_port()))
    deadline = start + args.timeout
    while time.time() < deadline:
        if handle.status().is_seeding:
            seconds = time.time() - start
            print("bench bytes=%d seconds=%.3f mbytes_per_s=%.2f" % (args.size, seconds, args.size / seconds / 1e6), flush=True)
            return 0
        time.sleep(0.005)
    print("failed reason=timeout", flush=True)
    return 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--dir", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--piece-length", type=int, default=256 * 1024)
    m = sub.add_parser("make")
    m.add_argument("--dir", required=True)
    m.add_argument("--size", type=int, required=True)
    m.add_argument("--piece-length", type=int, default=256 * 1024)
    l = sub.add_parser("leech")
    l.add_argument("--torrent", required=True)
    l.add_argument("--peer", required=True)
    l.add_argument("--dir", required=True)
    l.add_argument("--timeout", type=float, default=60)
    b = sub.add_parser("bench")
    b.add_argument("--dir", required=True)
    b.add_argument("--size", type=int, required=True)
    b.add_argument("--piece-length", type=int, default=256 * 1024)
    b.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    return {"seed": seed, "make": make, "leech": leech, "bench": bench}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
