#!/usr/bin/env python3
"""A milter load generator for scripts/bench-milter.sh: drives a milter (blason's or
OpenDKIM's) the way Postfix does, over the milter protocol version 6, and prints the
milter process's CPU seconds spent on the run (from /proc/PID/stat).

usage: milter-load.py HOST:PORT PID MESSAGE COUNT [--client ADDR] [--per-conn N]
  MESSAGE  a message file (LF or CRLF); sent COUNT times
  --client the SMTP client address the milter is told (default 127.0.0.1: internal,
           so a signer signs; give an outside address to make a verifier verify)
Prints: messages, wall seconds, milter CPU seconds, CPU us per message, how many
messages got a header added (a signature, or Authentication-Results), and the first.
"""
import os, socket, struct, sys, time

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data

def read_packet(s, buf):
    while len(buf) < 4:
        more = s.recv(65536)
        if not more:
            raise EOFError
        buf += more
    n = struct.unpack(">I", buf[:4])[0]
    while len(buf) < 4 + n:
        more = s.recv(65536)
        if not more:
            raise EOFError
        buf += more
    return buf[4:5], buf[5:4 + n], buf[4 + n:]

def main():
    a = sys.argv[1:]
    host, port = a[0].rsplit(":", 1)
    pid, msg, count = int(a[1]), open(a[2], "rb").read(), int(a[3])
    client = a[a.index("--client") + 1] if "--client" in a else "127.0.0.1"
    per_conn = int(a[a.index("--per-conn") + 1]) if "--per-conn" in a else 10
    head, _, body = msg.replace(b"\r\n", b"\n").partition(b"\n\n")
    headers = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += b"\n" + line
        else:
            name, _, value = line.partition(b":")
            headers.append([name, value.lstrip(b" ")])
    body = body.replace(b"\n", b"\r\n")
    mail_from = b"<alice@example.com>"
    # The per-message packets, with the reply each waits for (all of them: no
    # protocol steps are offered away).
    steps = [packet(b"M", mail_from + b"\0"), packet(b"R", b"<bob@example.org>\0")]
    steps += [packet(b"L", n + b"\0" + v + b"\0") for n, v in headers]
    steps += [packet(b"N")]
    steps += [packet(b"B", body[i:i + 65535]) for i in range(0, len(body), 65535)]
    c0, t0 = cpu(pid), time.time()
    added = sent = 0
    first = b""
    while sent < count:
        s = socket.create_connection((host, int(port)))
        buf = b""
        s.sendall(packet(b"O", struct.pack(">III", 6, 0x1FF, 0)))
        cmd, _, buf = read_packet(s, buf)
        fam = b"6" if ":" in client else b"4"
        s.sendall(packet(b"C", b"client.example.org\0" + fam + struct.pack(">H", 25) + client.encode() + b"\0"))
        cmd, _, buf = read_packet(s, buf)
        s.sendall(packet(b"H", b"client.example.org\0"))
        cmd, _, buf = read_packet(s, buf)
        for _ in range(min(per_conn, count - sent)):
            for p in steps:
                s.sendall(p)
                cmd, _, buf = read_packet(s, buf)
            s.sendall(packet(b"E"))
            while True:
                cmd, data, buf = read_packet(s, buf)
                if cmd in (b"h", b"i"):
                    added += 1
                    first = first or data
                if cmd in (b"a", b"c", b"r", b"t", b"y", b"d"):
                    break
            sent += 1
        s.sendall(packet(b"Q"))
        s.close()
    wall, used = time.time() - t0, cpu(pid) - c0
    print(f"messages {sent} wall_s {wall:.2f} cpu_s {used:.2f} cpu_us_per_msg {used * 1e6 / sent:.0f} headers_added {added}")
    # What was added, to see that it worked (a signature, or a pass).
    text = first.replace(b"\0", b" ").decode(errors="replace")
    print("  first added: " + " ".join(text.split())[:150])

main()
