// mcexec: the last step between a container's child and its command.
//
// Why it exists: the trampoline's child is a clone of the runtime, so until
// its final execve /proc/self/exe is the host's `deno`. A command that is (or
// whose #! interpreter is) /proc/self/exe, or a symlink to it in the image,
// would make the kernel execute the host binary inside the container, which
// can then reopen it for writing once nothing maps it (runc's
// CVE-2019-5736). So the child first execveat()s this program from a sealed
// memfd the runtime made (ffi/monitor.ts): from then on /proc/self/exe is
// that memfd, which no one can write, and no page of deno is mapped. Only
// then is the command's path resolved and executed, here, by the kernel.
//
// Protocol (argv, laid out by lib/container/exec.ts, filled by the
// trampoline): mcexec ERRFD INDEX N TOL1 PATH1 ... TOLN PATHN ARGV...
// ERRFD is the trampoline's error pipe, passed open across the exec into
// this program and made close-on-exec again here, so that the command's
// successful execve still reads as EOF to the runtime. INDEX is the plan op
// of the first candidate (the runtime names the failure by it, exactly as
// when the trampoline made the execve), or "-" for a hook: then only the
// int32 errno is written, as the trampoline's hook fork does. A candidate
// with TOL 1 is a PATH entry that may be missing (ENOENT, ENOTDIR) or not
// executable (EACCES, which then wins over a later ENOENT: execvp's rule).
// The environment is the command's, untouched.
//
// Anyone in the container can run this program again (as /proc/self/exe):
// it then only execs what its caller named, which the caller could anyway.

// Built freestanding where the architecture is known (a few KB instead of a
// static libc's 700: the runtime copies it into a memfd at each run), with
// libc otherwise.

#include <stdint.h>
#include <sys/syscall.h>
#define MC_ENOENT 2
#define MC_EACCES 13
#define MC_ENOTDIR 20
#define MC_F_SETFD 2
#define MC_FD_CLOEXEC 1
#define MC_PR_SET_DUMPABLE 4

#if defined(MC_FREESTANDING) && defined(__x86_64__)
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__asm__(".globl _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call mc_start\n hlt\n");
#elif defined(MC_FREESTANDING) && defined(__aarch64__)
static long sys3(long n, long a, long b, long c) {
  register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}
__asm__(".globl _start\n_start:\n mov x0, sp\n bl mc_start\n brk #0\n");
#elif defined(MC_FREESTANDING)
#error "no freestanding entry for this architecture: build without MC_FREESTANDING"
#else
#include <errno.h>
#include <unistd.h>
static long sys3(long n, long a, long b, long c) {
  long r = syscall(n, a, b, c);
  return r < 0 ? -errno : r;
}
#endif

static long number(const char *s, int *ok) {
  long v = 0;
  *ok = *s != 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000000) *ok = 0;
    v = v * 10 + (*s - '0');
  }
  return v;
}

static void report(long errfd, int hook, long index, int err) {
  if (hook) {
    int32_t code = err;
    sys3(SYS_write, errfd, (long)&code, sizeof code);
  } else {
    int32_t rec[2] = {(int32_t)index, err};
    sys3(SYS_write, errfd, (long)rec, sizeof rec);
  }
}

static int helper(int argc, char **argv, char **envp) {
  int ok1 = 0, ok2 = 1, ok3 = 0;
  if (argc < 5) return 127;
  long errfd = number(argv[1], &ok1);
  int hook = argv[2][0] == '-' && argv[2][1] == 0;
  long index = hook ? 0 : number(argv[2], &ok2);
  long n = number(argv[3], &ok3);
  if (!ok1 || !ok2 || !ok3 || n < 1 || 4 + 2 * n >= argc) return 127;
  // The trampoline's exec made this process non-dumpable (its file is not
  // readable to it); should that have failed, no process of the container
  // may take the error pipe through /proc/PID/fd from here on.
  sys3(SYS_prctl, MC_PR_SET_DUMPABLE, 0, 0);
  sys3(SYS_fcntl, errfd, MC_F_SETFD, MC_FD_CLOEXEC);
  char **args = argv + 4 + 2 * n;
  int sticky = 0;
  for (long k = 0; k < n; k++) {
    const int tolerated = argv[4 + 2 * k][0] == '1';
    int err = (int)-sys3(SYS_execve, (long)argv[5 + 2 * k], (long)args, (long)envp);
    if (tolerated && (err == MC_ENOENT || err == MC_ENOTDIR || err == MC_EACCES)) {
      if (err == MC_EACCES) sticky = MC_EACCES;
      continue;
    }
    if (err == MC_ENOENT && sticky) err = sticky;
    report(errfd, hook, index + k, err);
    return 125;
  }
  report(errfd, hook, index + n - 1, sticky ? sticky : MC_ENOENT);
  return 125;
}

#ifdef MC_FREESTANDING
__attribute__((noreturn, used)) void mc_start(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  int code = helper(argc, argv, argv + argc + 1);
  for (;;) sys3(SYS_exit_group, code, 0, 0);
}
#else
int main(int argc, char **argv, char **envp) { return helper(argc, argv, envp); }
#endif
