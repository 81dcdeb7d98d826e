/* glibc's ioperm(0x88, 4, 1), the reference for ioperm.c (exit status: errno or 0). */
#include <errno.h>
#include <sys/io.h>

int main(void)
{
    return ioperm(0x88, 4, 1) == 0 ? 0 : errno;
}
