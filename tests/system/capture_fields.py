"""capture_fields.py - tshark's fields of a capture's frames, streamed: tshark_rows for
a capture file as it is, vxlan_rows for the VXLAN datagrams of an underlay capture, the
kernel's coalesced runs cut into the datagrams they stand for.

tshark's rows are read back line by line, so a capture of any size costs no memory
here; tshark does the per-byte work.

dumpcap on a veth sees a UDP GSO send (or a GRO'd receive) as one frame: one outer
header with the total length, then the datagrams' payloads back to back, each as long
as the first but the last. tshark would dissect only the first. So vxlan_rows reads
the capture (pcapng, as Lab.capture writes it), cuts each run where the kernel cuts it
and pipes every datagram to tshark as a frame of its own (the outer headers copied
with their lengths set, not their IPv4 checksum: an outer ip.checksum.status of a cut
datagram means nothing). One frame is in memory at a time.

Example::

    for row in tshark_rows(pcap, "ip.src", "vxlan.vni", display_filter="vxlan"):
        ...  # row: one string a field, occurrences (outer, inner) joined by ","
    for row in vxlan_rows(pcap, "vxlan && ip.proto == 6", "udp.srcport", "tcp.seq_raw"):
        ...  # the same, a row a datagram
"""

import struct
import subprocess
import tempfile
import threading

PCAPNG_SECTION, PCAPNG_INTERFACE, PCAPNG_PACKET = 0x0A0D0D0A, 1, 6
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_ETHERNET = 1
ETH_LEN, ETH_MIN_FRAME, VXLAN_LEN, UDP_LEN = 14, 60, 8, 8


def pcapng_frames(path):
    """Yields the bytes of each frame of a pcapng file of Ethernet captures."""
    with open(path, "rb") as f:
        order = "<"
        while head := f.read(12):
            if len(head) < 12:
                raise ValueError(f"{path}: truncated pcapng block")
            kind = struct.unpack("<I", head[:4])[0]
            if kind == PCAPNG_SECTION:  # sets the byte order of what follows
                order = "<" if struct.unpack("<I", head[8:])[0] == PCAPNG_BYTE_ORDER_MAGIC \
                    else ">"
            total = struct.unpack(order + "I", head[4:8])[0]
            body = head[8:] + f.read(total - 12)
            if kind == PCAPNG_INTERFACE and struct.unpack(order + "H", body[:2])[0] \
                    != LINKTYPE_ETHERNET:
                raise ValueError(f"{path}: an interface that is not Ethernet")
            if kind == PCAPNG_PACKET:
                caplen = struct.unpack(order + "I", body[12:16])[0]
                yield body[20:20 + caplen]


def vxlan_payload_len(data, ofs):
    """Size of the VXLAN datagram payload at data[ofs:] (VXLAN header, inner Ethernet,
    inner IPv4 packet by its total length), None if its inner frame is not IPv4."""
    eth = ofs + VXLAN_LEN
    if len(data) < eth + ETH_LEN + 20 or data[eth + 12:eth + 14] != b"\x08\x00":
        return None
    return VXLAN_LEN + ETH_LEN + int.from_bytes(data[eth + 16:eth + 18], "big")


def datagrams(frame, number):
    """The VXLAN datagrams (whole Ethernet frames) that a captured IPv4/UDP frame
    stands for. A run is cut as the kernel cuts it: every piece as long as the first
    datagram, the last one shorter or equal. Raises AssertionError when a piece is not
    one whole datagram: then what the wire carries is not what the capture shows."""
    if len(frame) < ETH_LEN + 20 + UDP_LEN or frame[12:14] != b"\x08\x00":
        return [frame]
    udp = ETH_LEN + (frame[ETH_LEN] & 0x0F) * 4
    payload = frame[udp + UDP_LEN:]
    step = vxlan_payload_len(payload, 0)
    if step is None or len(payload) <= max(step, VXLAN_LEN + ETH_MIN_FRAME):
        return [frame]  # a single datagram (its inner frame maybe padded to 60 bytes)
    head = bytearray(frame[:udp + UDP_LEN])
    out = []
    for ofs in range(0, len(payload), step):
        piece = payload[ofs:ofs + step]
        assert vxlan_payload_len(payload, ofs) == len(piece), (
            f"captured frame {number}: a run of {len(payload)} bytes of VXLAN datagrams "
            f"does not cut into whole ones of {step} bytes at byte {ofs}")
        struct.pack_into(">H", head, ETH_LEN + 2, len(head) - ETH_LEN + len(piece))
        struct.pack_into(">H", head, udp + 4, UDP_LEN + len(piece))
        out.append(bytes(head) + piece)
    return out


def write_datagrams_pcap(pcapng, out):
    """Writes every datagram of pcapng's frames to out as a classic pcap stream."""
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
    for number, frame in enumerate(pcapng_frames(pcapng), 1):
        for datagram in datagrams(frame, number):
            out.write(struct.pack("<IIII", 0, 0, len(datagram), len(datagram)))
            out.write(datagram)


# Checksums verified (a field .checksum.status is 1 only when verified good), sequence
# numbers raw, and none of the per-stream analysis that costs memory across a capture.
VXLAN_ROWS_OPTIONS = ("ip.check_checksum:TRUE", "tcp.check_checksum:TRUE",
                      "tcp.analyze_sequence_numbers:FALSE", "tcp.desegment_tcp_streams:FALSE")


def vxlan_rows(pcapng, display_filter, *fields):
    """tshark_rows of each VXLAN datagram of pcapng (coalesced runs cut into datagrams)
    that matches display_filter, with checksums verified (VXLAN_ROWS_OPTIONS)."""
    return tshark_rows(lambda out: write_datagrams_pcap(pcapng, out), *fields,
                       display_filter=display_filter, options=VXLAN_ROWS_OPTIONS)


def tshark_rows(pcap, *fields, display_filter=None, options=()):
    """Yields tshark's fields of each frame of pcap (UDP 4789 decoded as VXLAN, no name
    resolution) that matches display_filter (every frame without one), tshark run with
    each of options ("preference:value") as -o: a list of strings, one a field,
    several occurrences (outer, then inner) joined by ",".

    pcap is a capture file's path, or a function that writes a capture to the binary
    file it is given: tshark's stdin, written from a thread while the rows are read.
    Raises RuntimeError, with tshark's messages, when tshark fails."""
    feed = pcap if callable(pcap) else None
    argv = ["tshark", "-n", "-r", "-" if feed else str(pcap), "-d", "udp.port==4789,vxlan",
            "-T", "fields", "-E", "separator=\t", "-E", "aggregator=,"]
    if display_filter:
        argv += ["-Y", display_filter]
    for option in options:
        argv += ["-o", option]
    for field in fields:
        argv += ["-e", field]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errors, text=True,
                                bufsize=1 << 20)
        failed = []

        def write_capture():
            try:
                feed(proc.stdin.buffer)
            except BaseException as e:  # re-raised by the reader, after tshark's end
                failed.append(e)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        writer = threading.Thread(target=write_capture, daemon=True) if feed else None
        if writer:
            writer.start()
        read_all = False
        try:
            for line in proc.stdout:
                yield line.rstrip("\n").split("\t")
            read_all = True
        finally:
            proc.stdout.close()
            if not read_all:  # the caller stopped early: stop tshark, and so the writer
                proc.kill()
            if writer:
                writer.join()
            status = proc.wait()
        if failed and not isinstance(failed[0], BrokenPipeError):
            raise failed[0]
        if status != 0:
            errors.seek(0)
            raise RuntimeError(f"tshark failed ({status}): {errors.read().decode()}")
        if failed:  # tshark stopped reading yet said nothing: rows may be missing
            raise failed[0]
