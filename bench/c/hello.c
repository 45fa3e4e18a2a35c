/* hello: the benchmark's handler. Writes "hello\n" to fd 1 and exits.
 *
 *   gcc -O2 -static -o hello hello.c
 *   gcc -O2 -static -nostdlib -fno-stack-protector -DHELLO_NOLIBC -o hello hello.c
 *
 * Built static so that exec costs no dynamic loading: the measurement is
 * of the super-server, not of ld.so. bench/run.sh uses the second form
 * where it can (x86-64, arm64): glibc's start-up code, even static, probes
 * the CPU's caches with CPUID, which traps to the hypervisor in a virtual
 * machine and then costs more than the rest of the handler's life.
 */
#ifdef HELLO_NOLIBC

static const char msg[] = "hello\n";

#if defined(__x86_64__)
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#define SYS_WRITE 1
#define SYS_EXIT 60
#elif defined(__aarch64__)
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
#define SYS_WRITE 64
#define SYS_EXIT 93
#else
#error "HELLO_NOLIBC: x86-64 and arm64 only; build without it"
#endif

void _start(void)
{
	long n = sys3(SYS_WRITE, 1, (long)msg, sizeof msg - 1);
	sys3(SYS_EXIT, n == (long)(sizeof msg - 1) ? 0 : 1, 0, 0);
	for (;;)
		;
}

#else

#include <unistd.h>

int main(void)
{
	static const char msg[] = "hello\n";
	ssize_t n = write(1, msg, sizeof msg - 1);
	_exit(n == (ssize_t)(sizeof msg - 1) ? 0 : 1);
}

#endif
