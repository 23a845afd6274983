"""This machine's floor for any stdio <-> socket bridge in Python: one poll() loop that
copies bytes both ways and parses nothing (no lines, no ids, no bounds). Standard library
only. Usage: stdio_relay.py SOCKET"""
import os
import select
import socket
import sys


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[1])
    poller = select.poll()
    poller.register(0, select.POLLIN)
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == 0:
                data = os.read(0, 65536)
                if not data:
                    return
                sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    return
                os.write(1, data)


if __name__ == "__main__":
    main()
