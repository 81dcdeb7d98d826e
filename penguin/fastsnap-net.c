/*
 * User-mode networking after a fast-snapshot restore: its TCP connections
 * end, as they do for a -loadvm.
 *
 * A restore puts the guest's TCP stack back to the take, but slirp lives
 * outside every snapshot and keeps each connection the guest opened. The
 * guest, its port allocator back at the take, then opens its next
 * connection from the port of one slirp still has, and slirp never answers
 * the new SYN. After a -loadvm, which Penguin runs in a new process, slirp
 * has no connection at all; so after a restore it has none either.
 *
 * libslirp has no call that ends a connection, so each one the guest
 * opened is handed a TCP reset from the guest's side (slirp_input()).
 * libslirp, like 4.4BSD, acts on a reset whose sequence number is at or
 * before the next one it expects, which is half of the sequence space:
 * of two resets half the space apart, one always ends the connection (the
 * other, if it comes first, only makes slirp send the guest an ACK, which
 * the guest answers with a reset of its own).
 *
 * What is not reset: connections slirp accepted for a host forward
 * (slirp_connection_info() does not name their guest-side address) and
 * IPv6 ones (not listed at all).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libslirp.h>
#include "qemu/bswap.h"
#include "penguin/fastsnap.h"
#include "penguin/hooks.h"

enum {
    ETH_HEADER = 14,
    IP_HEADER = 20,
    TCP_HEADER = 20,
    FRAME = ETH_HEADER + IP_HEADER + TCP_HEADER,
    TCP_RST = 0x04,
};

typedef struct Connection {
    struct in_addr guest, peer;
    uint16_t guest_port, peer_port;
} Connection;

static uint16_t checksum(const uint8_t *data, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += data[i] << 8 | data[i + 1];
    }
    if (len & 1) {
        sum += data[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* An Ethernet frame with the guest's TCP reset of @c at @seq. */
static void build_reset(uint8_t *frame, const Connection *c, uint32_t seq)
{
    uint8_t *ip = frame + ETH_HEADER, *tcp = ip + IP_HEADER;
    uint8_t pseudo[12];
    uint16_t sum;

    memset(frame, 0, FRAME);
    stw_be_p(frame + 12, 0x0800);
    ip[0] = 0x45;
    stw_be_p(ip + 2, IP_HEADER + TCP_HEADER);
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    memcpy(ip + 12, &c->guest, 4);
    memcpy(ip + 16, &c->peer, 4);
    stw_be_p(ip + 10, checksum(ip, IP_HEADER, 0));

    stw_be_p(tcp, c->guest_port);
    stw_be_p(tcp + 2, c->peer_port);
    stl_be_p(tcp + 4, seq);
    tcp[12] = (TCP_HEADER / 4) << 4;
    tcp[13] = TCP_RST;
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_TCP;
    stw_be_p(pseudo + 10, TCP_HEADER);
    sum = checksum(pseudo, sizeof(pseudo), 0);
    stw_be_p(tcp + 16, checksum(tcp, TCP_HEADER, (uint16_t)~sum));
}

/*
 * One line of slirp_connection_info(): "  TCP[STATE]  fd  src port  dst
 * port recvq sendq". A connection the guest opened lists the guest's
 * address and port as its source. A host forward's listener is skipped; a
 * connection it accepted lists the host's address instead, so its reset
 * names no connection slirp has, and slirp drops it.
 */
static bool parse_line(const char *line, Connection *c)
{
    char state[32], src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
    unsigned src_port, dst_port;
    int fd;

    if (sscanf(line, " TCP[%31[A-Z_12]] %d %15s %u %15s %u", state, &fd,
               src, &src_port, dst, &dst_port) != 6) {
        return false;
    }
    if (!strcmp(state, "HOST_FORWARD") || !strcmp(state, "NONE") ||
        !strcmp(state, "LISTEN") || src_port > 0xffff || dst_port > 0xffff) {
        return false;
    }
    c->guest_port = src_port;
    c->peer_port = dst_port;
    return inet_pton(AF_INET, src, &c->guest) == 1 &&
           inet_pton(AF_INET, dst, &c->peer) == 1;
}

static void reset_connections(Slirp *slirp)
{
    g_autofree char *info = slirp_connection_info(slirp);
    g_auto(GStrv) lines = g_strsplit(info, "\n", -1);
    uint8_t frame[FRAME];
    Connection c;

    for (int i = 1; lines[i]; i++) {
        if (!parse_line(lines[i], &c)) {
            continue;
        }
        build_reset(frame, &c, 0);
        slirp_input(slirp, frame, sizeof(frame));
        build_reset(frame, &c, 0x80000000u);
        slirp_input(slirp, frame, sizeof(frame));
    }
}

void fastsnap_net_reset(void)
{
    void *section = NULL;

    while ((section = penguin_savevm_next_section(section))) {
        uint32_t instance;
        const char *vmsd_name;

        if (!strcmp(penguin_savevm_section_name(section, &instance,
                                                &vmsd_name), "slirp")) {
            reset_connections(penguin_savevm_section_opaque(section));
        }
    }
}
