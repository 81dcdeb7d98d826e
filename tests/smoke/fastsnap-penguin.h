/*
 * fastsnap-penguin.h - what the fast-snapshot guest program (fastsnap-penguin.c)
 * and its host (tests/smoke/fastsnap_link.py) tell each other by hypercall.
 *
 * The program runs as a stage of the smoke init on a Linux guest booted with
 * Penguin's command line. It loads the kernel modules the initramfs carries as
 * /modules/00.ko, 01.ko, ... (virtio PCI, virtio-blk, virtio-net, vsock),
 * mounts devtmpfs, brings the first network interface up as slirp's 10.0.2.15
 * and pins itself to CPU 0; then, for as long as the VM runs, it asks the host
 * what to do. The host answers with one command at a time (or anything else:
 * ask again in FSP_ASK_NS), and the program reports each command's outcome.
 *
 *   FSP_NR(FSP_OP_SETUP, step, errno, detail)       one per set-up step
 *   FSP_NR(FSP_OP_ASK, asks, marker) -> FSP_CMD(cmd, arg) or anything else
 *   FSP_NR(FSP_OP_RESULT, command word, step, errno, value, local port)
 *
 * asks counts the questions and marker is the value of the last FSP_CMD_MARK,
 * both in guest RAM: after a fast-snapshot restore they read as at the take.
 * Arguments are guest words: on 32-bit guests only their low 32 bits count.
 */
#ifndef SMOKE_FASTSNAP_PENGUIN_H
#define SMOKE_FASTSNAP_PENGUIN_H

#define FSP_NR 0x50454e46 /* "PENF" */
#define FSP_OP_SETUP 1
#define FSP_OP_ASK 2
#define FSP_OP_RESULT 3

/* Set-up steps (FSP_OP_SETUP's first argument). */
#define FSP_SETUP_DEVTMPFS 1 /* mount devtmpfs on /dev */
#define FSP_SETUP_MODULE 2   /* detail: the module's index */
#define FSP_SETUP_DISK 3     /* /dev/vda opened (O_DIRECT) */
#define FSP_SETUP_NET 4      /* eth0 up as 10.0.2.15/24 */
#define FSP_SETUP_PIN 5      /* pinned to CPU 0 */
#define FSP_SETUP_DONE 6     /* asking from now on */

/*
 * A command: a tag in the top byte, so that a call nobody answers (it returns
 * nr or a0) never reads as one; the command in the next byte, its argument in
 * the low 16 bits.
 */
#define FSP_TAG 0x46u
#define FSP_CMD(cmd, arg) ((FSP_TAG << 24) | ((cmd) << 16) | ((arg) & 0xffffu))

/*
 * The commands. The drive's regions: FSP_REGIONS of FSP_REGION_BYTES from
 * FSP_DRIVE_OFFSET of /dev/vda; a mask selects them (bit i: region i).
 */
#define FSP_CMD_WRITE 1 /* arg: mask | seed << 8: the pattern of seed into the
                         * regions, O_DIRECT, then fsync; value: CRC-32 of it */
#define FSP_CMD_READ 2  /* arg: mask: read the regions with O_DIRECT; value:
                         * CRC-32 of what they hold */
#define FSP_CMD_MARK 3  /* arg: v: marker = v and the RAM buffer filled from v;
                         * value: CRC-32 of the buffer */
#define FSP_CMD_SUM 4   /* value: CRC-32 of the RAM buffer as it is */
#define FSP_CMD_TCP 5   /* arg: port: connect to 10.0.2.2:port through slirp,
                         * echo FSP_TCP_BYTES and keep the connection open;
                         * value: bytes that came back equal */
#define FSP_CMD_VSOCK 6 /* arg: port: the same over AF_VSOCK to host CID 2 */
#define FSP_CMD_CLOSE 7 /* close every connection kept open; value: how many */

/* Where a command stopped (FSP_OP_RESULT's step); FSP_STEP_OK: all done. */
#define FSP_STEP_OK 0
#define FSP_STEP_OPEN 1
#define FSP_STEP_WRITE 2
#define FSP_STEP_SYNC 3
#define FSP_STEP_READ 4
#define FSP_STEP_SOCKET 5
#define FSP_STEP_CONNECT 6
#define FSP_STEP_SEND 7
#define FSP_STEP_RECEIVE 8
#define FSP_STEP_MISMATCH 9
#define FSP_STEP_FULL 10
#define FSP_STEP_UNKNOWN 11

#define FSP_DRIVE_OFFSET (1u << 20)
#define FSP_REGION_BYTES (64u << 10)
#define FSP_REGIONS 3
#define FSP_RAM_BYTES (1u << 20)
#define FSP_TCP_BYTES 256
#define FSP_VSOCK_BYTES 4096
#define FSP_HOST_ADDRESS "10.0.2.2" /* slirp's host: the host's loopback */
#define FSP_GUEST_ADDRESS "10.0.2.15"
#define FSP_ASK_NS 1000000L /* 1 ms between questions answered "no" */

/*
 * The drive's bytes: byte number `offset` of the drive written with `seed`.
 * fastsnap_link.py computes the same.
 */
static inline unsigned char fsp_drive_byte(unsigned int offset, unsigned int seed)
{
    return (unsigned char)(seed * 37u + (offset >> 9) * 11u + offset * 3u + 1u);
}

/* The RAM buffer's byte i after FSP_CMD_MARK v. */
static inline unsigned char fsp_ram_byte(unsigned int i, unsigned int v)
{
    return (unsigned char)(v * 29u + i * 7u + (i >> 10) + 5u);
}

/* The echo payloads' byte i of connection number n (counted by the program). */
static inline unsigned char fsp_echo_byte(unsigned int i, unsigned int n)
{
    return (unsigned char)(i * 131u + n * 17u + 3u);
}

#endif
