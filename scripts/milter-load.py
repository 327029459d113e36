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
            headers.append([name, value])
    body = body.replace(b"\n", b"\r\n")
    mail_from = b"<alice@example.com>"
    # As Postfix: every protocol step offered away (SMFIP_NO* skips a step,
    # SMFIP_NR_* its answer, SMFIP_HDR_LEADSPC keeps the space after the colon);
    # the milter takes what it wants.
    OFFER = 0x1FFFFF
    NO = {b"C": 0x01, b"H": 0x02, b"M": 0x04, b"R": 0x08, b"B": 0x10, b"L": 0x20, b"N": 0x40}
    NR = {b"C": 0x1000, b"H": 0x2000, b"M": 0x4000, b"R": 0x8000, b"L": 0x80, b"N": 0x40000, b"B": 0x80000}
    def steps_for(proto):
        lead = proto & 0x100000
        st = [(b"M", mail_from + b"\0"), (b"R", b"<bob@example.org>\0")]
        st += [(b"L", n + b"\0" + (v if lead else v.lstrip(b" ")) + b"\0") for n, v in headers]
        st += [(b"N", b"")]
        st += [(b"B", body[i:i + 65535]) for i in range(0, len(body), 65535)]
        return [(packet(c, d), not proto & NR[c]) for c, d in st if not proto & NO[c]]
    def step(s, buf, c, d, proto):
        if proto & NO[c]:
            return buf
        s.sendall(packet(c, d))
        if not proto & NR[c]:
            _, _, buf = read_packet(s, buf)
        return buf
    c0, t0 = cpu(pid), time.time()
    added = sent = 0
    first = b""
    while sent < count:
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        s.sendall(packet(b"O", struct.pack(">III", 6, 0x1FF, OFFER)))
        cmd, data, buf = read_packet(s, buf)
        proto = struct.unpack(">III", data[:12])[2]
        steps = steps_for(proto)
        fam = b"6" if ":" in client else b"4"
        buf = step(s, buf, b"C", b"client.example.org\0" + fam + struct.pack(">H", 25) + client.encode() + b"\0", proto)
        buf = step(s, buf, b"H", b"client.example.org\0", proto)
        for _ in range(min(per_conn, count - sent)):
            # Written as Postfix writes them: buffered until an answer is due.
            out = b""
            for p, answered in steps:
                out += p
                if answered:
                    s.sendall(out)
                    out = b""
                    cmd, _, buf = read_packet(s, buf)
            s.sendall(out + packet(b"E"))
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
    print(f"protocol {proto:#x} messages {sent} wall_s {wall:.2f} cpu_s {used:.2f} cpu_us_per_msg {used * 1e6 / sent:.0f} headers_added {added}")
    # What was added, to see that it worked (a signature, or a pass).
    text = first.replace(b"\0", b" ").decode(errors="replace")
    print("  first added: " + " ".join(text.split())[:150])

main()
