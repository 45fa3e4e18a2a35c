#include "textflag.h"

// Offsets in cloneProg (checked by TestCloneProgLayout).
#define P_ALL 0
#define P_OLD 8
#define P_ARGS 16
#define P_STEPS 80
#define P_N 88
#define P_FAILAT 96
#define P_ERRNO 104

// Offsets in cloneStep.
#define S_TRAP 0
#define S_A0 8
#define S_A1 16
#define S_A2 24
#define S_A3 32
#define S_A4 40
#define S_A5 48
#define S_FLAGS 56
#define S_SIZE 64

#define SYS_rt_sigprocmask 14
#define SYS_exit_group 231
#define SYS_clone3 435

// func cloneChild(p *cloneProg) uintptr
//
// Blocks every signal on this thread, clone3(p.args), restores the mask
// and returns clone3's result. The child starts on p.args' stack with
// every signal blocked and the handlers reset, runs p's steps in order
// with no call, push or return, and exits 253 after writing the failed
// step's index and errno into p.
TEXT ·cloneChild(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ p+0(FP), R12
	MOVQ $SYS_rt_sigprocmask, AX
	MOVQ $2, DI // SIG_SETMASK
	LEAQ P_ALL(R12), SI
	LEAQ P_OLD(R12), DX
	MOVQ $8, R10
	SYSCALL
	CMPQ AX, $0xfffffffffffff001
	JCC parent // not blocked: AX is the error, returned as is
	MOVQ $SYS_clone3, AX
	LEAQ P_ARGS(R12), DI
	MOVQ $64, SI // CLONE_ARGS_SIZE_VER0
	SYSCALL
	CMPQ AX, $0
	JEQ child
	MOVQ AX, R13
	MOVQ $SYS_rt_sigprocmask, AX
	MOVQ $2, DI
	LEAQ P_OLD(R12), SI
	MOVQ $0, DX
	MOVQ $8, R10
	SYSCALL
	MOVQ R13, AX
parent:
	MOVQ AX, ret+8(FP)
	RET

child:
	MOVQ P_STEPS(R12), R13
	MOVQ P_N(R12), R14
	XORQ BX, BX
loop:
	CMPQ BX, R14
	JEQ noexec
	MOVQ S_TRAP(R13), AX
	MOVQ S_A0(R13), DI
	MOVQ S_A1(R13), SI
	MOVQ S_A2(R13), DX
	MOVQ S_A3(R13), R10
	MOVQ S_A4(R13), R8
	MOVQ S_A5(R13), R9
	SYSCALL
	TESTQ $1, S_FLAGS(R13) // stepNoCheck
	JNE decimal
	CMPQ AX, $0xfffffffffffff001
	JCC fail
decimal:
	TESTQ $2, S_FLAGS(R13) // stepDecimal: AX in decimal, NUL-terminated, at a0
	JEQ next
	MOVQ AX, SI
	MOVQ $10, R8
	XORQ CX, CX
count:
	XORQ DX, DX
	DIVQ R8
	INCQ CX
	TESTQ AX, AX
	JNE count
	MOVB $0, (DI)(CX*1)
	MOVQ SI, AX
digit:
	XORQ DX, DX
	DIVQ R8
	ADDQ $48, DX
	DECQ CX
	MOVB DL, (DI)(CX*1)
	TESTQ CX, CX
	JNE digit
next:
	ADDQ $S_SIZE, R13
	INCQ BX
	JMP loop
noexec:
	MOVQ $-22, AX // EINVAL: the steps ended without an execve
fail:
	NEGQ AX
	MOVQ AX, P_ERRNO(R12)
	MOVQ BX, P_FAILAT(R12)
exit:
	MOVQ $SYS_exit_group, AX
	MOVQ $253, DI
	SYSCALL
	JMP exit
