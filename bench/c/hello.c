/* hello: the benchmark's handler. Writes "hello\n" to fd 1 and exits.
 * Built static (gcc -O2 -static) so exec costs no dynamic loading:
 * the measurement is of the super-server, not of ld.so. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "hello\n";
	ssize_t n = write(1, msg, sizeof msg - 1);
	_exit(n == (ssize_t)(sizeof msg - 1) ? 0 : 1);
}
