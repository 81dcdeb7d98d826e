/*
 * vsock-echo.h - the vsock part of the smoke-boot init program (vsock-echo.c).
 *
 * Built with -DSMOKE_VSOCK, init calls vsock_echo_serve() once it is done with
 * its own work. That loads the kernel modules the initramfs carries as
 * /vsock/00.ko, 01.ko, ... (tests/smoke/kernel_modules.py chose them) and then,
 * for as long as the VM runs, asks the host by hypercall whether to run an echo
 * round: connect over AF_VSOCK to host CID 2 on the port the host names, send
 * VSOCK_ECHO_BYTES known bytes, read them back, compare, close, and report the
 * outcome by hypercall. Asking again after each answer is what lets a guest
 * restored from a snapshot connect again when the host wants it to. Without
 * SMOKE_VSOCK the call does nothing.
 *
 * The hypercall protocol (tests/vsock/guest_link.py is the host's side).
 * Arguments are guest words: on 32-bit guests only their low 32 bits count.
 *   VSOCK_NR(VSOCK_OP_MODULE, index, errno)
 *       one per module, errno 0 = loaded (or built in)
 *   VSOCK_NR(VSOCK_OP_ASK, asks, rounds) -> VSOCK_GO(port), VSOCK_REBOOT or else
 *       VSOCK_GO(port): run a round to that port; VSOCK_REBOOT: reboot -f (the
 *       reboot system call, restart, at once); else ask again in 20 ms
 *   VSOCK_NR(VSOCK_OP_RESULT, round, step, errno, bytes)
 *       step VSOCK_STEP_OK: all bytes came back equal
 * asks counts the questions (a counter in guest RAM, so it goes on across a
 * snapshot restore); rounds counts the rounds run.
 */
#ifndef SMOKE_VSOCK_ECHO_H
#define SMOKE_VSOCK_ECHO_H

#define VSOCK_NR 0x50454e56 /* "PENV" */
#define VSOCK_OP_MODULE 1
#define VSOCK_OP_ASK 2
#define VSOCK_OP_RESULT 3

/*
 * An answer that means "run a round": a tag in the high half, so that a call
 * nobody answers (it returns nr or a0) never reads as one.
 */
#define VSOCK_GO_TAG 0x5653u
#define VSOCK_GO(port) ((VSOCK_GO_TAG << 16) | ((port) & 0xffffu))
#define VSOCK_REBOOT 0x56520000u       /* "VR": restart the machine */

#define VSOCK_ECHO_BYTES 10000

/* Where a round stopped. */
#define VSOCK_STEP_OK 0
#define VSOCK_STEP_SOCKET 1
#define VSOCK_STEP_CONNECT 2
#define VSOCK_STEP_NONBLOCK 3
#define VSOCK_STEP_SEND 4
#define VSOCK_STEP_RECEIVE 5
#define VSOCK_STEP_PEER_CLOSED 6
#define VSOCK_STEP_TIMEOUT 7
#define VSOCK_STEP_MISMATCH 8

#ifdef SMOKE_VSOCK
__attribute__((noreturn)) void vsock_echo_serve(void);
#else
static inline void vsock_echo_serve(void)
{
}
#endif

#endif
