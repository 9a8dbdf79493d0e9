"""The Python side of connection_python_test.cpp: multiprocessing.connection's Listener or Client
talking to an mproc program.

    connection_peer.py client ADDRESS KEY    connect, answer, exit
    connection_peer.py server ADDRESS KEY    listen, print "ready PORT", accept one client, exit

ADDRESS is unix:PATH, abstract:NAME or tcp:HOST:PORT (port 0 for a server: any free port); KEY is
the authkey, or - for none. Exit codes: 0 when the exchange went as expected, 3 on
AuthenticationError (printed), 1 on anything else (the traceback is printed).

The exchange, from the side that accepted:
    accepted side  -> b"from " + side        connecting side checks it
    connecting     -> b"ping" * 1000         accepted side sends it back reversed
    accepted side  -> reversed               connecting side checks it, sends b"bye"
"""
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener


def parse(spec):
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        return rest
    if kind == "abstract":
        return "\0" + rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return (host, int(port))
    raise SystemExit("bad address " + spec)


def expect(got, wanted):
    if got != wanted:
        raise SystemExit("expected %r, got %r" % (wanted[:40], got[:40]))


def run():
    role, spec, key = sys.argv[1], sys.argv[2], sys.argv[3]
    authkey = None if key == "-" else key.encode()
    address = parse(spec)
    if role == "client":
        with Client(address, authkey=authkey) as c:
            expect(c.recv_bytes(), b"from mproc")
            ping = b"ping" * 1000
            c.send_bytes(ping)
            expect(c.recv_bytes(), ping[::-1])
            c.send_bytes(b"bye")
        return
    with Listener(address, authkey=authkey) as listener:
        port = listener.address[1] if isinstance(listener.address, tuple) else 0
        print("ready", port, flush=True)
        with listener.accept() as c:
            c.send_bytes(b"from python")
            message = c.recv_bytes()
            c.send_bytes(message[::-1])
            expect(c.recv_bytes(), b"bye")


if __name__ == "__main__":
    try:
        run()
    except AuthenticationError as e:
        print("AuthenticationError:", e, flush=True)
        sys.exit(3)
