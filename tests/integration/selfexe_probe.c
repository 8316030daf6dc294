// Installed as a rootfs's ELF interpreter (ld-linux): runs whenever the
// kernel executes a dynamically linked program in that container, and says
// which file the process was executed from and whether it could be opened
// for writing. If the runtime's own binary were ever executed inside the
// container (/proc/self/exe of a process not yet past its final execve),
// this is the code that would get hold of it (runc's CVE-2019-5736).
// Freestanding (x86_64): an interpreter gets no libc set up for it.
#include <sys/syscall.h>

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__asm__(".globl _start\n_start:\n xor %rbp,%rbp\n and $-16,%rsp\n call probe\n hlt\n");

static char out[8192];
static int len;

static void put(const char *s) {
  while (*s && len < (int)sizeof out - 1) out[len++] = *s++;
}

static void num(long v) {
  char d[24];
  int n = 0;
  if (v < 0) {
    put("-");
    v = -v;
  }
  do d[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < 20);
  while (n) {
    char c[2] = {d[--n], 0};
    put(c);
  }
}

__attribute__((noreturn, used)) void probe(void) {
  char target[4096];
  long n = sys3(SYS_readlink, (long)"/proc/self/exe", (long)target, sizeof target - 1);
  target[n > 0 ? n : 0] = 0;
  // O_RDWR (2): refused while the file is mapped (ETXTBSY) even where the
  // attack would succeed after an exec; reported to show what is held.
  long w = sys3(SYS_open, (long)"/proc/self/exe", 2, 0);
  put("PROBE exe=");
  put(target);
  put(" rdwr=");
  num(w < 0 ? w : 0);
  put("\n");
  sys3(SYS_write, 1, (long)out, len);
  for (;;) sys3(SYS_exit_group, 0, 0, 0);
}
