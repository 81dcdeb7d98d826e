# penguin-qemu hypercall test guest for x86 (tests/guests/PROTOCOL.md).
#
# A raw 64 KiB "BIOS" image: qemu-system-x86_64 -M pc -nodefaults -serial stdio -bios x86.bin
# The CPU resets in real mode at f000:fff0; we go to 32-bit protected mode (two NR_ARGS32
# calls, one per sentinel form, plus 32-bit size near misses) and then to 64-bit long mode
# (two NR_ARGS64 calls, the 64-bit near misses, NR_UNREG, NR_WRITE, NR_STATE, then
# NR_USER from ring 3 with IOPL 3 (iretq there, int $0x80 back), and the verdict).
#
# Build (no cpp needed; the image holds no relocations, so any -Ttext works):
#   as --32 -I include -o x86.o x86.S
#   ld -m elf_i386 -N --no-warn-rwx-segments -Ttext=0 -e _start -o x86.elf x86.o
#   objcopy -O binary x86.elf x86.bin          # exactly 65536 bytes
#
# Addressing (include/x86.inc): every absolute address is ROM + (label - _start).
# 64-bit code uses %rip-relative addressing instead. RAM below 1 MiB holds the page
# tables, the IDT, the stack and the fail mask; everything there is written before use.
# Step 7 adds a RAM copy of the GDT with ring-3 segments and a TSS (ltr writes the
# descriptor's busy bit, so neither may live in ROM).

# ROM, COM1, page tables, selectors, SENTINEL, SENTINEL_DX, X86_PROTECTED_MODE,
# X86_LONG_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR; NR_*, A*, FAIL_* (common.inc)
    .include "x86.inc"

    .set STACK,       0x7000
    .set MASK,        0x500          # fail mask (32-bit word in RAM)
    .set IN_USER,     0x504          # nonzero while step 7 runs in ring 3
    .set IDT,         0x4000         # 32 gates; 8 bytes each in 32-bit mode, 16 in 64-bit mode
                                     # (0x81 from step 7 on: vector 0x80 is the way back)
    .set GDT_RAM,     0x5000         # step 7's GDT (gdt..gdt_user_end copied)
    .set TSS,         0x5100         # 64-bit TSS, 104 bytes: RSP0 for ring 3 -> 0
    .set USTACK,      0x6800         # ring-3 rsp (the user code pushes nothing)

    .set SEL_UDATA,   0x20           # DPL 3 (in the RAM GDT only)
    .set SEL_UCODE64, 0x28           # DPL 3, L=1
    .set SEL_TSS,     0x30           # 16-byte system descriptor

    # The %dx sentinel form needs dx = 0x88, but dx is the low half of a2 (edx/rdx) in
    # both conventions. So every %dx-form call passes a2 = A_2 with its low 16 bits
    # replaced by 0x0088 (the host must expect these a2 values for the %dx-form calls);
    # keeping the high bits set shows that the full register reaches the host.
    .set A2DX32,      0x33330088
    .set A2DX64,      0x3333333333330088

    # PROTOCOL's trap-count bit: here a near miss was handled, or an unexpected
    # exception (FAIL_USER: step 7, or any exception taken from ring 3).
    .set FAIL_NEAR,   FAIL_TRAPS

# Loads nr and a0..a5 in the 32-bit convention (eax; ebx ecx edx esi edi ebp).
    .macro ARGS32 nr, a2=A2_32
    mov   $\nr, %eax
    mov   $A0_32, %ebx
    mov   $A1_32, %ecx
    mov   $\a2, %edx
    mov   $A3_32, %esi
    mov   $A4_32, %edi
    mov   $A5_32, %ebp
    .endm

# Loads nr and a0..a5 in the 64-bit convention (rax; rdi rsi rdx r10 r8 r9).
# Writing eax zero-extends, so all of rax is defined.
    .macro ARGS64 nr, a2=A2_64
    mov   $\nr, %eax
    movabs $A0_64, %rdi
    movabs $A1_64, %rsi
    movabs $\a2, %rdx
    movabs $A3_64, %r10
    movabs $A4_64, %r8
    movabs $A5_64, %r9
    .endm

# An OUT never writes registers, so a changed eax after a near miss means the library
# took it for a hypercall and wrote a return value.
    .macro NEARCHECK32
    cmp   $NR_NEARMISS, %eax
    je    1f
    orl   $FAIL_NEAR, MASK
1:
    .endm

    .macro NEARCHECK64
    cmp   $NR_NEARMISS, %rax
    je    1f
    orl   $FAIL_NEAR, MASK
1:
    .endm

# Writes the 64-bit interrupt gate at rdi (16 bytes) for the handler at rdx, code
# selector SEL_CODE64; \type is 0x8e00 (DPL 0) or 0xee00 (DPL 3). Clobbers eax.
    .macro GATE64 type
    mov   %edx, %eax
    and   $0xffff, %eax
    or    $(SEL_CODE64 << 16), %eax
    mov   %eax, (%rdi)
    mov   %edx, %eax
    and   $0xffff0000, %eax
    or    $\type, %eax
    mov   %eax, 4(%rdi)
    mov   %rdx, %rax
    shr   $32, %rax
    mov   %eax, 8(%rdi)
    movl  $0, 12(%rdi)
    .endm

# Prints the NUL-terminated string at esi/rsi on COM1 (lodsb takes the code size's
# pointer): assembled once for 32-bit code (puts32), once for 64-bit code (puts64).
# Clobbers al, dx and esi/rsi.
    .macro PUTS_COM1
    mov   $COM1, %dx
1:  lodsb
    test  %al, %al
    jz    2f
    out   %al, %dx
    jmp   1b
2:  ret
    .endm

# Compares a 64-bit register with a constant (r11 is scratch: no convention uses it).
    .macro EXPECT64 reg, val, bit
    movabs $\val, %r11
    cmp   %r11, \reg
    je    1f
    orl   $\bit, MASK
1:
    .endm

    .text
    .globl _start

# ------------------------------------------------- real mode, then protected mode (32-bit)
_start:
    X86_PROTECTED_MODE ds, es, ss, fs, gs
    mov   $STACK, %esp
    movl  $0, MASK

    # IDT: without one, a stray fault would triple-fault and reset into this image,
    # repeating the hypercalls. Every vector goes to fault32.
    mov   $IDT, %edi
    mov   $32, %ecx
    mov   $(ROM + fault32 - _start), %edx
1:  mov   %edx, %eax
    and   $0xffff, %eax
    or    $(SEL_CODE32 << 16), %eax
    mov   %eax, (%edi)
    mov   %edx, %eax
    and   $0xffff0000, %eax
    or    $0x8e00, %eax               # present, DPL 0, 32-bit interrupt gate
    mov   %eax, 4(%edi)
    add   $8, %edi
    loop  1b
    lidt  (ROM + idtr32 - _start)

    mov   $(ROM + msg_start - _start), %esi
    call  puts32

    # --- step 2, 32-bit code, imm8 form: outl %eax,$0x88
    ARGS32 NR_ARGS32
    SENTINEL                          # outl %eax,$0x88
    cmp   $RET32, %eax
    je    1f
    orl   $FAIL_ARGS, MASK
1:
    # --- step 2, 32-bit code, %dx form: outl %eax,(%dx), dx = 0x88 (a2 = A2DX32)
    ARGS32 NR_ARGS32, A2DX32
    SENTINEL_DX                       # outl %eax,(%dx)
    cmp   $RET32, %eax
    je    1f
    orl   $FAIL_ARGS, MASK
1:
    # --- step 3, 32-bit code: operand-size near misses (only a 32-bit OUT is a hypercall)
    ARGS32 NR_NEARMISS
    outb  %al, $0x88                  # e6 88: byte OUT (opcode e6 instead of e7)
    NEARCHECK32
    ARGS32 NR_NEARMISS
    outw  %ax, $0x88                  # 66 e7 88: operand-size prefix makes it a word OUT
    NEARCHECK32
    ARGS32 NR_NEARMISS, A2DX32
    outb  %al, (%dx)                  # ee: byte OUT through %dx = 0x88
    NEARCHECK32
    ARGS32 NR_NEARMISS, A2DX32
    outw  %ax, (%dx)                  # 66 ef: word OUT through %dx = 0x88
    NEARCHECK32

    # --- switch to long mode (the first 1 GiB identity-mapped covers all we touch)
    X86_LONG_MODE lm64

# esi = linear address of a NUL-terminated string
puts32:
    PUTS_COM1

# A fault in 32-bit code cannot reach the 64-bit verdict path: report it and stop.
fault32:
    mov   $(ROM + msg_fault32 - _start), %esi
    call  puts32
1:  hlt
    jmp   1b

# ---------------------------------------------------------------- long mode (64-bit)
    .code64
lm64:
    mov   $STACK, %esp                # writing esp zero-extends into rsp

    # 64-bit IDT (16-byte gates) over the 32-bit one: every vector goes to fault64.
    lea   fault64(%rip), %rdx
    mov   $IDT, %edi
    mov   $32, %ecx
1:  GATE64 0x8e00                     # present, DPL 0, 64-bit interrupt gate, IST 0
    add   $16, %rdi
    loop  1b
    lidt  idtr64(%rip)

    # --- step 2, 64-bit code, imm8 form
    ARGS64 NR_ARGS64
    SENTINEL                          # outl %eax,$0x88
    EXPECT64 %rax, RET64, FAIL_ARGS
    # --- step 2, 64-bit code, %dx form (a2 = A2DX64)
    ARGS64 NR_ARGS64, A2DX64
    SENTINEL_DX                       # outl %eax,(%dx)
    EXPECT64 %rax, RET64, FAIL_ARGS

    # --- step 3, 64-bit code: near misses, each changes one field of a sentinel.
    # Ports 0x87 and 0x89 are i8257 DMA page registers (harmless writes); nothing in
    # this program uses DMA.
    ARGS64 NR_NEARMISS
    outb  %al, $0x88                  # e6 88: size (byte OUT)
    NEARCHECK64
    ARGS64 NR_NEARMISS
    outw  %ax, $0x88                  # 66 e7 88: size (word OUT)
    NEARCHECK64
    ARGS64 NR_NEARMISS
    outl  %eax, $0x89                 # e7 89: port number one above
    NEARCHECK64
    ARGS64 NR_NEARMISS
    outl  %eax, $0x87                 # e7 87: port number one below (its 4 bytes span 0x88..0x8a)
    NEARCHECK64
    ARGS64 NR_NEARMISS, 0x3333333333330089
    outl  %eax, (%dx)                 # ef with dx = 0x89: port number in %dx
    NEARCHECK64
    ARGS64 NR_NEARMISS, A2DX64
    outb  %al, (%dx)                  # ee with dx = 0x88: size, %dx form
    NEARCHECK64
    ARGS64 NR_NEARMISS, A2DX64
    outw  %ax, (%dx)                  # 66 ef with dx = 0x88: size, %dx form
    NEARCHECK64
    ARGS64 NR_NEARMISS
    inl   $0x88, %eax                 # e5 88: direction (IN); overwrites eax, so no check
    ARGS64 NR_NEARMISS, A2DX64
    inl   (%dx), %eax                 # ed with dx = 0x88: direction, %dx form

    # --- step 4: unregistered nr; the OUT must leave every register alone
    ARGS64 NR_UNREG
    SENTINEL
    EXPECT64 %rax, NR_UNREG, FAIL_UNREG
    EXPECT64 %rdi, A0_64, FAIL_UNREG
    EXPECT64 %rsi, A1_64, FAIL_UNREG
    EXPECT64 %rdx, A2_64, FAIL_UNREG
    EXPECT64 %r10, A3_64, FAIL_UNREG
    EXPECT64 %r8,  A4_64, FAIL_UNREG
    EXPECT64 %r9,  A5_64, FAIL_UNREG

    # --- step 5: write-back into a3 = r10
    ARGS64 NR_WRITE
    SENTINEL
    EXPECT64 %r10, WVAL64, FAIL_WRITE
    EXPECT64 %rax, WRET, FAIL_WRITE

    # --- step 6: state; a0 (rdi) = the run-time address of the sentinel (%rip-relative,
    # so the ROM alias the CPU runs in); the host writes a4 (r8), a5 (r9) and a2 (rdx)
    # and returns 0x5354.
    ARGS64 NR_STATE
    lea   penguin_state_sentinel(%rip), %rdi
    .globl penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    EXPECT64 %r8,  STATE_A4_64, FAIL_STATE
    EXPECT64 %r9,  STATE_A5_64, FAIL_STATE
    EXPECT64 %rdx, STATE_A2_64, FAIL_STATE
    EXPECT64 %rax, SRET, FAIL_STATE

    # --- step 7: user mode. Ring 3 with IOPL 3 (so the OUT sentinel is allowed there),
    # entered with iretq; int $0x80 through a DPL-3 gate comes back to ring 0.
    # Page tables: user access (U/S) to the first 2 MiB, which hold this image's
    # 0xf0000 alias and the fail mask.
    orl   $4, PML4
    orl   $4, PDPT
    orl   $4, PD
    mov   %cr3, %rax
    mov   %rax, %cr3                  # flush the TLB
    # GDT in RAM: the boot entries plus ring-3 data/code and the TSS descriptor.
    lea   gdt(%rip), %rsi
    mov   $GDT_RAM, %edi
    mov   $(gdt_user_end - gdt), %ecx
    rep movsb
    lgdt  gdtr_user(%rip)
    # TSS: RSP0 is the stack the CPU switches to on the way back to ring 0; the I/O
    # bitmap offset points past the limit (IOPL 3 makes it irrelevant anyway).
    mov   $TSS, %edi
    xor   %eax, %eax
    mov   $(104 / 4), %ecx
    rep stosl
    movl  $STACK, TSS + 4             # RSP0 (high dword stays 0)
    movw  $104, TSS + 102
    mov   $SEL_TSS, %ax
    ltr   %ax
    # IDT: vectors 32..0x7f go to fault64, 0x80 (DPL 3, so int $0x80 may use it from
    # ring 3) to user_return.
    lea   fault64(%rip), %rdx
    mov   $(IDT + 32 * 16), %edi
    mov   $(0x80 - 32), %ecx
1:  GATE64 0x8e00
    add   $16, %rdi
    loop  1b
    lea   user_return(%rip), %rdx
    GATE64 0xee00                     # present, DPL 3, 64-bit interrupt gate
    lidt  idtr_user(%rip)

    movl  $1, IN_USER                 # fault64 now ends the user-mode part
    push  $(SEL_UDATA | 3)            # SS
    push  $USTACK                     # RSP
    push  $0x3002                     # RFLAGS: IOPL 3, IF 0 (bit 1 is always set)
    push  $(SEL_UCODE64 | 3)          # CS
    lea   user_code(%rip), %rax
    push  %rax                        # RIP
    iretq

# Ring 3 (the check writes MASK, a user page).
user_code:
    ARGS64 NR_USER
    SENTINEL
    EXPECT64 %rax, RET64, FAIL_USER
    int   $0x80                       # to user_return, in ring 0 on TSS.RSP0

# Ring 0, entered through gate 0x80: the frame holds RIP, CS (8(%rsp)), RFLAGS, RSP, SS.
user_return:
    testb $3, 8(%rsp)
    jnz   user_done
    orl   $FAIL_USER, MASK            # not from ring 3
# Also the landing point of fault64 for exceptions taken in ring 3.
user_done:
    movl  $0, IN_USER
    mov   $SEL_DATA, %ax              # iretq nulled DS/ES, int nulled SS
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    mov   $STACK, %esp
    push  $2
    popfq                             # IOPL 0 again

# --- step 8: verdict (also the landing point of fault64)
verdict:
    lea   msg_verdict(%rip), %rsi
    call  puts64
    mov   MASK, %ebx
    call  puthex32
    lea   msg_crlf(%rip), %rsi
    call  puts64
    mov   $NR_VERDICT, %eax
    mov   MASK, %edi                  # a0 = fail mask (zero-extended)
    xor   %esi, %esi
    xor   %edx, %edx
    xor   %r10d, %r10d
    xor   %r8d, %r8d
    xor   %r9d, %r9d
    SENTINEL                          # the host stops the VM
1:  jmp   1b

# An exception in 64-bit code: no near miss on x86 traps, so any exception is a failure.
# Taken in step 7's ring-3 code, it ends the user-mode part with FAIL_USER instead.
fault64:
    mov   $STACK, %esp
    cmpl  $0, IN_USER
    je    1f
    orl   $FAIL_USER, MASK
    jmp   user_done
1:  orl   $FAIL_NEAR, MASK
    jmp   verdict

# rsi = address of a NUL-terminated string
puts64:
    PUTS_COM1

# ebx = value, printed as 8 lowercase hex digits
puthex32:
    mov   $COM1, %dx
    mov   $8, %ecx
1:  rol   $4, %ebx
    mov   %bl, %al
    and   $0xf, %al
    cmp   $10, %al
    jb    2f
    add   $('a' - '0' - 10), %al
2:  add   $'0', %al
    out   %al, %dx
    loop  1b
    ret

# ---------------------------------------------------------------- data (read-only ROM)
    X86_GDT long=1
# Step 7's entries, only in the RAM copy (gdtr_user); accessed bits preset too.
    .quad 0x00cff3000000ffff          # 0x20: data, DPL 3
    .quad 0x00affb000000ffff          # 0x28: 64-bit code (L=1), DPL 3
    .quad 0x0000890000000067 | (TSS << 16)  # 0x30: available 64-bit TSS, limit 103,
    .quad 0                           #       base TSS (< 16 MiB; upper half 0)
gdt_user_end:

    X86_GDTR

    .balign 8
    .word 0
idtr32:
    .word 32 * 8 - 1
    .long IDT

    .balign 8
    .word 0, 0, 0
idtr64:
    .word 32 * 16 - 1
    .quad IDT

    .balign 8
    .word 0, 0, 0
idtr_user:
    .word 0x81 * 16 - 1
    .quad IDT

    .balign 8
    .word 0, 0, 0
gdtr_user:
    .word gdt_user_end - gdt - 1
    .quad GDT_RAM

msg_start:   .asciz "PENGUIN-GUEST x86 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST x86 verdict "
msg_crlf:    .asciz "\r\n"
msg_fault32: .asciz "PENGUIN-GUEST x86 fault in 32-bit code\r\n"

# ---------------------------------------------------------------- reset vector
    X86_RESET_VECTOR
