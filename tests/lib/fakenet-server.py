# SPDX-License-Identifier: Apache-2.0
# One fake-internet server for the end-to-end harness (tests/lib/fakenet.bash): TCP echo, UDP
# echo, HTTP or HTTPS on one address and port. A single process (threads, no forks), so killing
# its pid ends it; it writes --ready FILE once it is listening.
import argparse
import http.server
import socket
import socketserver
import ssl
import sys


class TCPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        try:
            while True:
                data = self.request.recv(4096)
                if not data:
                    break
                self.request.sendall(data)
        except OSError:
            pass


class UDPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class HTTPHandler(http.server.BaseHTTPRequestHandler):
    server_version = "fakenet"
    sys_version = ""

    def do_GET(self):
        body = ("fakenet %s %s\n" % (self.server.fakenet_name, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True, choices=["tcp-echo", "udp-echo", "http", "https"])
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()

    family = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    base = socketserver.ThreadingUDPServer if a.mode == "udp-echo" else socketserver.ThreadingTCPServer
    handler = {"tcp-echo": TCPEcho, "udp-echo": UDPEcho}.get(a.mode, HTTPHandler)

    class Server(base):
        address_family = family
        allow_reuse_address = True
        daemon_threads = True

    srv = Server((a.addr, a.port), handler)
    srv.fakenet_name = "%s %s:%d" % (a.mode, a.addr, a.port)
    if a.mode == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    # Listening from here on: connections queue in the backlog until serve_forever takes them.
    with open(a.ready, "w") as f:
        f.write("ready\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
