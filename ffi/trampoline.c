// The only native code of minicontainer.
//
// mc_spawn() clones a child into new namespaces and the child replays a plan:
// an array of ops, each a raw system call (number + six arguments) prepared
// entirely by the TypeScript parent. The child is a copy of one thread of a
// multi-threaded process (Deno), so it must not call malloc, printf, locks or
// anything that may touch state owned by other threads: only syscall() and
// arithmetic on its own stack.
//
// Op layout: 16 little-endian int64 words (see ffi/plan.ts, which must agree).
//   [0] nr: syscall number, or a negative special op below
//   [1..6] arguments
//   [7] refmask: bit k set => argument k is the index of an earlier op whose
//       result replaces it (open -> write -> close); a referenced result
//       that is a tolerated failure (-errno) skips the op, passing it on
//   [8..11] tolerated errnos (0 = unused): the plan continues past them
//   [12] pointer to a debug line, [13] its length (0 = none)
//   [14] flags: MC_F_DEBUG_BEFORE prints the line before the call (execve)
//   [15] with a debug line: the epoch microsecond --debug times count from
// A failing op writes {int32 op index, int32 errno} to the error pipe and
// exits; the pipe is O_CLOEXEC, so EOF without a record means execve
// succeeded. Both pipes (error, and sync: the parent releases the child with
// one byte) belong to the trampoline; the parent gets their ends from
// mc_spawn.
//
// The child is a copy of the runtime (its memory, environment, open files,
// executable): it turns non-dumpable first thing, so that no process of a
// container it joins can read /proc/PID/{environ,fd,exe,mem} or ptrace it,
// until its final execve makes it the command (runc's CVE-2016-9962 and
// CVE-2019-5736). The plan closes the runtime's files with close_fds before
// any container process can see the child. Its /proc/self/exe is still the
// runtime's binary, though: a command that is /proc/self/exe (or a link to
// it, or has it as #! interpreter) would run the host's binary in the
// container, free to reopen it for writing once it execs something else.
// So plans execute their command, and hooks, through the exec helper
// (ffi/exec_helper.c) run from a sealed memfd: the exec_helper op names its
// fd, sealed_exec becomes it, and it makes the real execve.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <poll.h>
#include <sched.h>
#include <termios.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MC_OP_WORDS 16
#define MC_MAX_OPS 2048

#define MC_OP_WAIT_SYNC (-1)
#define MC_OP_INIT (-2)
#define MC_OP_RESET_SIGNALS (-3)
#define MC_OP_SEND_FD (-4)
#define MC_OP_OPEN_IN_ROOT (-5)
#define MC_OP_FD_PATH (-6)
#define MC_OP_CLOSE_FDS (-7)
#define MC_OP_CHECK_PARENT (-8)
#define MC_OP_HOOK (-9)
#define MC_OP_EXEC_HELPER (-10)
#define MC_OP_SEALED_EXEC (-11)

// How a failed hook op reports beyond errno (ffi/plan.ts's HOOK_FAILED):
// its wait status above this bit, or the timeout. Real errnos stay below.
#define MC_HOOK_STATUS 0x10000
#define MC_HOOK_TIMEOUT 0x20000

// Flags of MC_OP_OPEN_IN_ROOT (a[2]).
#define MC_IN_ROOT_MKDIR 1     // create missing directories (0755) on the way
#define MC_IN_ROOT_FILE 2      // with MKDIR: the last component, if missing, is an empty file
#define MC_IN_ROOT_WALK 4      // the component walk even where openat2 exists (tests)
#define MC_IN_ROOT_NOT_ROOT 8  // the result may not be the root itself (EBUSY)

#define MC_F_DEBUG_BEFORE 1

struct mc_error {
  int32_t op;
  int32_t err;
};

// The kernel's own sigaction layout: raw rt_sigaction does not take libc's.
struct mc_kernel_sigaction {
  unsigned long handler;
  unsigned long flags;
  unsigned long restorer;
  uint64_t mask;
};

static __attribute__((noreturn)) void mc_exit(int code) {
  for (;;) syscall(SYS_exit_group, code);
}

static __attribute__((noreturn)) void mc_fail(int errfd, int32_t index, int32_t err) {
  struct mc_error rec = {index, err};
  syscall(SYS_write, errfd, &rec, sizeof rec);
  mc_exit(125);
}

// Writes v in decimal into the string s (a placeholder of the plan at least
// 12 bytes long): how the child tells the exec helper numbers only it knows.
static void mc_put_number(char *s, long v) {
  char digits[24];
  int n = 0;
  unsigned long u = (unsigned long)v;
  do digits[n++] = (char)('0' + u % 10);
  while ((u /= 10) && n < 11);
  for (int k = 0; k < n; k++) s[k] = digits[n - 1 - k];
  s[n] = 0;
}

// The helper holds the error pipe, a write end into the runtime, so it must
// not be dumpable (a process of the container could take the pipe through
// /proc/PID/fd) from its first instruction: exec makes a process
// non-dumpable when its file is not readable to the process executing it.
// The memfd is mode 0111 (mc_memfd); here the read-bypassing capabilities
// leave the effective set for this exec only (the helper's own exec gets a
// new set, the command's from the helper's exec likewise). A failure here
// leaves the helper's own PR_SET_DUMPABLE, its first instruction.
static void mc_unreadable_exec(void) {
  struct {
    uint32_t version;
    int pid;
  } head = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2];
  if (syscall(SYS_capget, &head, data) < 0) return;
  data[0].effective &= ~((1U << 1) | (1U << 2));  // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
  syscall(SYS_capset, &head, data);
}

// Executes the exec helper held by fd `helper` with argv (whose argv[1] is
// filled with errfd, kept open across this exec only: the helper makes it
// close-on-exec again before the command's). execveat needs no /proc; when
// it fails (a seccomp profile may deny it with an errno: docker's allows it;
// lib/security/seccomp.ts refuses one that kills on it), the same file is
// executed by its /proc/self/fd path through execve, which every profile
// must allow, and that one's errno is reported.
// Returns only on failure, with errno set.
static long mc_exec_helper(long helper, char **argv, char **envp, int errfd) {
  char path[32];
  if (helper < 0) {
    errno = EBADF;
    return -1;
  }
  mc_put_number(argv[1], errfd);
  if (syscall(SYS_fcntl, errfd, F_SETFD, 0) < 0) return -1;
  mc_unreadable_exec();
  syscall(SYS_execveat, helper, "", argv, envp, AT_EMPTY_PATH);
  static const char prefix[] = "/proc/self/fd/";
  memcpy(path, prefix, sizeof prefix);
  mc_put_number(path + sizeof prefix - 1, helper);
  syscall(SYS_execve, path, argv, envp);
  int err = errno;
  syscall(SYS_fcntl, errfd, F_SETFD, FD_CLOEXEC);
  errno = err;
  return -1;
}

// Handlers installed by the runtime would run runtime code in the child, and
// ignored signals (Rust ignores SIGPIPE) would survive execve: reset them all.
static long mc_reset_signals(void) {
  struct mc_kernel_sigaction dfl = {0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, 0, 8);
  }
  return 0;
}

// PID 1 for --init: forwards every signal it can catch to the command and
// reaps every child (orphans included); exits with the command's status.
// Signals stay blocked (mc_spawn blocked them) and are taken synchronously,
// which is also what makes the kernel queue them for a namespace's init.
static __attribute__((noreturn)) void mc_init_loop(long child) {
  uint64_t all = ~(uint64_t)0;
  for (;;) {
    siginfo_t info;
    long sig = syscall(SYS_rt_sigtimedwait, &all, &info, 0, 8);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      syscall(SYS_kill, child, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      long pid = syscall(SYS_wait4, -1, &status, WNOHANG, 0);
      if (pid <= 0) break;
      if (pid != child) continue;
      if (WIFEXITED(status)) mc_exit(WEXITSTATUS(status));
      if (WIFSIGNALED(status)) mc_exit(128 + WTERMSIG(status));
    }
  }
}

// Closes descriptors lo..hi: 0 or -1 with errno. Without close_range
// (before Linux 5.9), one by one up to the open-files limit.
static long mc_close_between(unsigned long lo, unsigned long hi) {
  if (syscall(SYS_close_range, lo, hi, 0) == 0) return 0;
  if (errno != ENOSYS) return -1;
  struct {
    uint64_t cur, max;
  } lim = {1024, 1024};
  syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &lim);
  for (uint64_t fd = lo; fd <= hi && fd < lim.cur; fd++) syscall(SYS_close, fd);
  return 0;
}

// Closes every descriptor from 3 up but the n in keep (values below 3 are
// ignored): really closed, not close-on-exec, so that nothing of the
// runtime's is in the child when a container's process can see it.
static long mc_close_fds(const long *keep, int n) {
  unsigned long lo = 3;
  for (;;) {
    long next = -1;  // the lowest kept descriptor at or above lo
    for (int k = 0; k < n; k++) {
      if (keep[k] >= (long)lo && (next < 0 || keep[k] < next)) next = keep[k];
    }
    unsigned long hi = next < 0 ? ~0U : (unsigned long)next - 1;
    if ((long)lo != next && mc_close_between(lo, hi) < 0) return -1;
    if (next < 0) return 0;
    lo = (unsigned long)next + 1;
  }
}

// The parent-death signal is a one-shot promise the kernel breaks silently:
// it is not sent when the parent died before the prctl. *parentfd is a pidfd
// of the parent; readable means it has exited: end here as the signal would
// have. Without pidfds (before Linux 5.3) there is nothing to check.
static long mc_check_parent(int parentfd) {
  if (parentfd < 0) return 0;
  struct pollfd p = {.fd = parentfd, .events = POLLIN};
  struct timespec zero = {0, 0};
  if (syscall(SYS_ppoll, &p, 1, &zero, 0, 8) > 0) mc_exit(137);
  return 0;
}

static long mc_init(int *parentfd) {
  // The command's parent is this process from now on: it checks this one.
  long self = syscall(SYS_pidfd_open, syscall(SYS_getpid), 0);
  long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid != 0) {
    if (pid < 0) return pid;
    // The init holds no file of the runtime's: the error pipe must reach EOF
    // when the command execs, and nothing else needs to stay open here.
    mc_close_fds(0, 0);
    mc_init_loop(pid);
  }
  if (self >= 0) {
    syscall(SYS_close, *parentfd);
    *parentfd = (int)self;
  }
  return 0;
}

// ---- OCI createContainer / startContainer hooks ------------------------
// A hook runs in the container's namespaces, so it is forked from here: the
// runtime cannot enter a mount namespace from its threaded process.

// Waits for the hook `pid` at most `timeout` seconds (0: no limit): its wait
// status, or -1 on timeout (the hook is then killed and reaped). The limit
// is kept by the waiter with a pidfd and ppoll, not by alarm(2) in the hook:
// a hook may ignore or reset SIGALRM, SIGKILL it cannot. Without pidfds
// (before Linux 5.3), wait4(WNOHANG) every 10 ms.
static long mc_wait_hook(long pid, long timeout) {
  int status = 0;
  if (timeout > 0) {
    struct timespec now, end;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout;
    long pidfd = syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
      if (syscall(SYS_wait4, pid, &status, WNOHANG, 0) == pid) {
        if (pidfd >= 0) syscall(SYS_close, pidfd);
        return status;
      }
      syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
      long left_ns = (end.tv_sec - now.tv_sec) * 1000000000L + (end.tv_nsec - now.tv_nsec);
      if (left_ns <= 0) break;
      struct timespec wait = {left_ns / 1000000000L, left_ns % 1000000000L};
      if (pidfd >= 0) {
        struct pollfd p = {.fd = (int)pidfd, .events = POLLIN};
        syscall(SYS_ppoll, &p, 1, &wait, 0, 8);
      } else {
        struct timespec tick = {0, 10000000};
        syscall(SYS_nanosleep, left_ns < tick.tv_nsec ? &wait : &tick, 0);
      }
    }
    if (pidfd >= 0) syscall(SYS_close, pidfd);
    syscall(SYS_kill, pid, SIGKILL);
    while (syscall(SYS_wait4, pid, &status, 0, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  while (syscall(SYS_wait4, pid, &status, 0, 0) < 0) {
    if (errno != EINTR) return -2;  // lost (SIGCHLD ignored): not a success
  }
  return status;
}

// Runs one hook: the exec helper with argv (which names path) in a fork whose stdin is the
// state file `statefd` (a memfd the runtime filled, read from its start),
// waited for at most `timeout` s. 0, or -1 with errno: the hook's own errno
// when it could not be executed, MC_HOOK_STATUS | status when it failed,
// MC_HOOK_TIMEOUT. With reportfd >= 0 (startContainer: the exec fifo, which
// `start` reads) a failure is also written there as 'E', int32 code, path,
// since the runtime that reads the error pipe (`create`) is gone.
static long mc_hook(const char *path, char **argv, char **envp, long statefd,
                    long timeout, long reportfd, long helper) {
  int execp[2];
  int32_t code = 0;
  if (syscall(SYS_pipe2, execp, O_CLOEXEC) < 0) return -1;
  long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    // The hook must not inherit what the child holds for the container:
    // blocked signals and ignored ones (the runtime's) survive execve, and
    // it dies with the container child.
    uint64_t none = 0;
    mc_reset_signals();
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_dup3, statefd, 0, 0) < 0 || syscall(SYS_lseek, 0, 0, SEEK_SET) < 0) {
      code = errno;
    } else {
      syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
      mc_exec_helper(helper, argv, envp, execp[1]);
      code = errno;
    }
    syscall(SYS_write, execp[1], &code, sizeof code);
    mc_exit(127);
  }
  syscall(SYS_close, execp[1]);
  if (pid < 0) {
    code = errno;
  } else {
    long status = mc_wait_hook(pid, timeout);
    int32_t err = 0;
    if (status == -2) {
      code = ECHILD;
    } else if (status < 0) {
      code = MC_HOOK_TIMEOUT;
    } else if (syscall(SYS_read, execp[0], &err, sizeof err) == sizeof err) {
      code = err;
    } else if (status != 0) {
      code = MC_HOOK_STATUS | (int32_t)(status & 0xffff);
    }
  }
  syscall(SYS_close, execp[0]);
  if (!code) return 0;
  if (reportfd >= 0) {
    char tag = 'E';
    struct iovec iov[3] = {{&tag, 1}, {&code, sizeof code}, {(void *)path, strlen(path)}};
    syscall(SYS_writev, reportfd, iov, 3);
  }
  errno = code;
  return -1;
}

// Sends fd over a unix socket (SCM_RIGHTS): how the pty master made inside
// the container's devpts reaches the runtime. Stack memory and one syscall.
static long mc_send_fd(long sock, long fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  int value = (int)fd;
  for (size_t k = 0; k < sizeof value; k++) CMSG_DATA(cmsg)[k] = ((unsigned char *)&value)[k];
  return syscall(SYS_sendmsg, sock, &msg, 0);
}

// ---- Paths inside a container's root ----------------------------------
// A container controls the content of its rootfs and volumes, so a path
// inside it is resolved with that root as "/" and held as an O_PATH fd from
// then on: a symlink swapped after the lookup cannot redirect a mount, a
// mknod or a chdir onto the host (runc's CVE-2021-30465, CVE-2024-21626).
// Paths come from the plan already clean: relative, single "/", no "." or
// ".." components, no trailing "/" ("" is the root itself).

struct mc_open_how {
  uint64_t flags, mode, resolve;
};
#define MC_RESOLVE_BENEATH 0x08
#define MC_RESOLVE_NO_MAGICLINKS 0x02
#define MC_RESOLVE_NO_SYMLINKS 0x04
#define MC_RESOLVE_IN_ROOT 0x10
#define MC_MAX_LINKS 40

static long mc_openat2(long dirfd, const char *path, long flags, long resolve) {
  struct mc_open_how how = {(uint64_t)(flags | O_PATH | O_CLOEXEC), 0, (uint64_t)resolve};
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// openat2 RESOLVE_IN_ROOT by hand, for kernels before 5.6: one component at
// a time with O_NOFOLLOW, a symlink's target read and walked again from the
// root (absolute) or from where it sits, ".." never above the root. Missing
// components are created when `flags` says so.
static long mc_walk_in_root(long root, const char *path, long flags) {
  char buf[4096];
  size_t len = strlen(path);
  if (len >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  struct stat rootst, st;
  if (syscall(SYS_fstat, root, &rootst) < 0) return -errno;
  long cur = syscall(SYS_openat, root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0) return -errno;
  int links = 0;
  char *p = buf;
  char *linked = buf;  // buf up to here came from a symlink's text
  while (*p) {
    char *end = p;
    while (*end && *end != '/') end++;
    char *rest = *end ? end + 1 : end;
    *end = 0;
    int last = *rest == 0;
    long next;
    if (p[0] == 0 || (p[0] == '.' && p[1] == 0)) {
      p = rest;
      continue;
    }
    if (p[0] == '.' && p[1] == '.' && p[2] == 0) {
      if (syscall(SYS_fstat, cur, &st) < 0) goto fail;
      if (st.st_dev == rootst.st_dev && st.st_ino == rootst.st_ino) {
        p = rest;
        continue;
      }
      next = syscall(SYS_openat, cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    } else {
      next = syscall(SYS_openat, cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && (flags & MC_IN_ROOT_MKDIR)) {
        // Not through a dangling symlink, as openat2's way refuses too.
        if (p < linked) {
          errno = ELOOP;
          goto fail;
        }
        long made = last && (flags & MC_IN_ROOT_FILE)
                        ? syscall(SYS_mknodat, cur, p, S_IFREG | 0644, 0)
                        : syscall(SYS_mkdirat, cur, p, 0755);
        if (made < 0 && errno != EEXIST) goto fail;
        next = syscall(SYS_openat, cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      }
    }
    if (next < 0) goto fail;
    if (syscall(SYS_fstat, next, &st) < 0 || !S_ISLNK(st.st_mode)) {
      syscall(SYS_close, cur);
      cur = next;
      p = rest;
      continue;
    }
    // A symlink: its target, then what was left of the path, from buf's start.
    char target[4096];
    long n = syscall(SYS_readlinkat, next, "", target, sizeof target);
    syscall(SYS_close, next);
    if (n < 0) goto fail;
    size_t restlen = strlen(rest);
    if (++links > MC_MAX_LINKS) {
      errno = ELOOP;
      goto fail;
    }
    if ((size_t)n + 1 + restlen >= sizeof buf) {
      errno = ENAMETOOLONG;
      goto fail;
    }
    size_t linked_rest = linked > rest ? (size_t)(linked - rest) : 0;
    memmove(buf + n + 1, rest, restlen + 1);
    linked = buf + n + (linked_rest ? 1 + linked_rest : 0);
    memcpy(buf, target, (size_t)n);
    buf[n] = restlen ? '/' : 0;
    if (target[0] == '/') {
      syscall(SYS_close, cur);
      cur = syscall(SYS_openat, root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (cur < 0) return -errno;
    }
    p = buf;
  }
  if ((flags & MC_IN_ROOT_MKDIR) && !(flags & MC_IN_ROOT_FILE)) {
    if (syscall(SYS_fstat, cur, &st) < 0) goto fail;
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      goto fail;
    }
  }
  return cur;
fail: {
  int err = errno;
  syscall(SYS_close, cur);
  return -err;
}
}

// Opens `path` inside `root` (both as in the comment above) and returns an
// O_PATH fd, or -errno. With MC_IN_ROOT_MKDIR, missing components are made:
// the longest existing prefix is resolved in the root, then each missing
// component is created and opened beneath the previous fd, never following
// a symlink (one planted meanwhile fails with ELOOP).
static long mc_open_in_root(long root, const char *path, long flags) {
  const long dir = (flags & MC_IN_ROOT_MKDIR) && !(flags & MC_IN_ROOT_FILE) ? O_DIRECTORY : 0;
  const long in_root = MC_RESOLVE_IN_ROOT | MC_RESOLVE_NO_MAGICLINKS;
  long fd = (flags & MC_IN_ROOT_WALK) ? -1 : mc_openat2(root, path[0] ? path : ".", dir, in_root);
  if (fd < 0 && ((flags & MC_IN_ROOT_WALK) || errno == ENOSYS)) return mc_walk_in_root(root, path, flags);
  if (fd >= 0 || errno != ENOENT || !(flags & MC_IN_ROOT_MKDIR)) return fd < 0 ? -errno : fd;
  char buf[4096];
  size_t len = strlen(path);
  if (len >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  // Longest existing prefix: cut at each "/" from the end.
  size_t have = len;
  long cur = -1;
  while (cur < 0) {
    while (have > 0 && buf[have] != '/') have--;
    buf[have] = 0;
    cur = mc_openat2(root, have ? buf : ".", O_DIRECTORY, in_root);
    if (cur < 0 && (errno != ENOENT || have == 0)) return -errno;
  }
  memcpy(buf, path, len + 1);  // the cuts above wrote NULs
  if (have) have++;
  while (have < len) {
    char *comp = buf + have;
    size_t end = have;
    while (end < len && buf[end] != '/') end++;
    buf[end] = 0;
    const int last = end == len;
    long made = last && (flags & MC_IN_ROOT_FILE) ? syscall(SYS_mknodat, cur, comp, S_IFREG | 0644, 0)
                                                  : syscall(SYS_mkdirat, cur, comp, 0755);
    long next = made < 0 && errno != EEXIST
                    ? -1
                    : mc_openat2(cur, comp, last ? dir : O_DIRECTORY,
                                 MC_RESOLVE_BENEATH | MC_RESOLVE_NO_SYMLINKS);
    int err = errno;
    syscall(SYS_close, cur);
    if (next < 0) return -err;
    cur = next;
    have = end + 1;
  }
  return cur;
}

// Whether fds a and b hold the same file (device and inode).
static int mc_same_file(long a, long b) {
  struct stat x, y;
  if (syscall(SYS_fstat, a, &x) != 0 || syscall(SYS_fstat, b, &y) != 0) return 0;
  return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

// Writes "/proc/self/fd/N" into buf (at least 32 bytes) and returns buf: the
// path mount(2) takes to act on exactly the file fd N holds.
static long mc_fd_path(char *buf, long fd) {
  static const char prefix[] = "/proc/self/fd/";
  char digits[24];
  int n = 0;
  unsigned long v = (unsigned long)fd;
  do digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < (int)sizeof digits);
  memcpy(buf, prefix, sizeof prefix - 1);
  for (int k = 0; k < n; k++) buf[sizeof prefix - 1 + k] = digits[n - 1 - k];
  buf[sizeof prefix - 1 + n] = 0;
  return (long)buf;
}

// Writes an op's debug line as "[child +12.345 ms] LINE": milliseconds since
// the runtime started (op[15]), formatted by hand (no printf in the child),
// in one writev so that parent and child lines do not interleave mid-line.
static void mc_debug_line(int fd, const int64_t *op) {
  struct timespec ts = {0, 0};
  syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
  int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - op[15];
  if (us < 0) us = 0;
  char buf[48];
  int n = sizeof buf;
  const char tail[] = " ms] ";
  n -= sizeof tail - 1;
  memcpy(buf + n, tail, sizeof tail - 1);
  for (int k = 0; k < 3; k++, us /= 10) buf[--n] = (char)('0' + us % 10);
  buf[--n] = '.';
  do buf[--n] = (char)('0' + us % 10);
  while ((us /= 10) > 0 && n > 8);
  const char head[] = "[child +";
  n -= sizeof head - 1;
  memcpy(buf + n, head, sizeof head - 1);
  struct iovec iov[2] = {{buf + n, sizeof buf - (size_t)n}, {(void *)op[12], (size_t)op[13]}};
  syscall(SYS_writev, fd, iov, 2);
}

static int mc_tolerated(const int64_t *op, int err) {
  for (int k = 8; k < 12; k++) {
    if (op[k] != 0 && op[k] == err) return 1;
  }
  return 0;
}

static __attribute__((noreturn)) void mc_child(const int64_t *ops, uint32_t nops, int errfd,
                                                int syncfd, int debugfd, int parentfd) {
  int64_t results[MC_MAX_OPS];
  int sticky = 0;  // execvp's rule: a PATH entry found but not executable wins over ENOENT
  long helper = -1;  // the exec helper's sealed memfd (exec_helper op)
  for (uint32_t i = 0; i < nops; i++) {
    const int64_t *op = ops + (uint64_t)i * MC_OP_WORDS;
    int64_t a[6];
    int64_t skipped = 0;
    for (int k = 0; k < 6; k++) {
      a[k] = op[1 + k];
      if (op[7] & (1 << k)) {
        if (a[k] < 0 || (uint64_t)a[k] >= i) mc_fail(errfd, (int32_t)i, EINVAL);
        a[k] = results[a[k]];
        // A result that is a tolerated failure (-errno): what needed it is
        // skipped and passes the failure on (a masked path the kernel lacks).
        if (a[k] < 0) skipped = a[k];
      }
    }
    if (skipped) {
      results[i] = skipped;
      continue;
    }
    const int debug = debugfd >= 0 && op[13] > 0;
    if (debug && (op[14] & MC_F_DEBUG_BEFORE)) mc_debug_line(debugfd, op);
    long r;
    errno = 0;
    switch (op[0]) {
      case MC_OP_WAIT_SYNC: {
        char byte;
        r = syscall(SYS_read, syncfd, &byte, 1);
        if (r != 1) mc_exit(125);  // the runtime went away before releasing us
        break;
      }
      case MC_OP_INIT:
        r = mc_init(&parentfd);
        if (r < 0) {
          errno = (int)-r;
          r = -1;
        }
        break;
      case MC_OP_RESET_SIGNALS:
        r = mc_reset_signals();
        break;
      case MC_OP_SEND_FD:
        r = mc_send_fd(a[0], a[1]);
        break;
      case MC_OP_OPEN_IN_ROOT:
        r = mc_open_in_root(a[0], (const char *)a[1], a[2]);
        if (r >= 0 && (a[2] & MC_IN_ROOT_NOT_ROOT) && mc_same_file(r, a[0])) {
          // A destination that is a symlink to "/": a mount there would
          // cover the root, and the mount's later steps, which find it
          // again by name, would land on the root's own mount instead.
          syscall(SYS_close, r);
          r = -EBUSY;
        }
        if (r < 0) {
          errno = (int)-r;
          r = -1;
        } else if (a[3]) {
          mc_fd_path((char *)a[3], r);  // the path later ops (mount) take for it
        }
        break;
      case MC_OP_FD_PATH:
        r = mc_fd_path((char *)a[0], a[1]);
        break;
      case MC_OP_CLOSE_FDS: {
        long keep[9] = {a[0], a[1], a[2], a[3], a[4], a[5], errfd, parentfd, helper};
        r = mc_close_fds(keep, 9);
        break;
      }
      case MC_OP_CHECK_PARENT:
        r = mc_check_parent(parentfd);
        break;
      case MC_OP_HOOK:
        r = mc_hook((const char *)a[0], (char **)a[1], (char **)a[2], a[3], a[4], a[5], helper);
        break;
      case MC_OP_EXEC_HELPER:
        r = helper = a[0];
        break;
      case MC_OP_SEALED_EXEC:
        // The candidates are the execve ops that follow: the helper reports
        // a failure by their index, as if this loop had made them.
        mc_put_number(((char **)a[0])[2], (long)i + 1);
        r = mc_exec_helper(helper, (char **)a[0], (char **)a[1], errfd);
        break;
      default:
        r = syscall(op[0], a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    if (r == -1) {
      int err = errno;
      if (mc_tolerated(op, err)) {
        if (err == EACCES) sticky = EACCES;
        results[i] = -err;
        continue;
      }
      if (err == ENOENT && sticky) err = sticky;
      mc_fail(errfd, (int32_t)i, err);
    }
    results[i] = r;
    if (debug && !(op[14] & MC_F_DEBUG_BEFORE)) mc_debug_line(debugfd, op);
  }
  // A plan ends in execve; getting here means every candidate was tolerated.
  mc_fail(errfd, (int32_t)nops - 1, sticky ? sticky : ENOENT);
}

// Clones the child and returns its pid (in the caller's PID namespace) or
// -errno. out[0] receives the read end of the error pipe, out[1] the write
// end of the sync pipe; the parent owns both.
int64_t mc_spawn(uint64_t clone_flags, const int64_t *ops, uint32_t nops, int32_t debugfd,
                 int32_t *out) {
  if (nops == 0 || nops > MC_MAX_OPS) return -E2BIG;
  int errp[2], syncp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) return -errno;
  if (pipe2(syncp, O_CLOEXEC) < 0) {
    int err = errno;
    close(errp[0]);
    close(errp[1]);
    return -err;
  }
  // Block every signal across the clone so no runtime handler can run in the
  // child before it resets them; the parent restores its mask at once.
  sigset_t all, old;
  sigfillset(&all);
  // How the child checks that this process is alive (check_parent op).
  int parentfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  // An unprivileged runtime writes the id maps of a new user namespace
  // through /proc/PID, which non-dumpable makes root's: its child stays
  // dumpable until its plan says otherwise (alone in a new PID namespace).
  int dumpable = (clone_flags & CLONE_NEWUSER) && geteuid() != 0;
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = syscall(SYS_clone, (unsigned long)(clone_flags | SIGCHLD), 0, 0, 0, 0);
  if (pid == 0) {
    if (!dumpable) syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
    // The child must not hold the parent's ends: a dead parent then reads as
    // EOF on the sync pipe.
    syscall(SYS_close, errp[0]);
    syscall(SYS_close, syncp[1]);
    mc_child(ops, nops, errp[1], syncp[0], debugfd, parentfd);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, 0);
  if (parentfd >= 0) close(parentfd);
  close(errp[1]);
  close(syncp[0]);
  if (pid < 0) {
    close(errp[0]);
    close(syncp[1]);
    return -err;
  }
  out[0] = errp[0];
  out[1] = syncp[1];
  return pid;
}

// Releases a child waiting in wait_sync and closes the sync pipe: 0 or -errno.
int32_t mc_release(int32_t syncfd) {
  char byte = 1;
  ssize_t n;
  do n = write(syncfd, &byte, 1);
  while (n < 0 && errno == EINTR);
  int err = n == 1 ? 0 : -errno;
  close(syncfd);
  return err;
}

// kill(2): 0 or -errno.
int32_t mc_kill(int32_t pid, int32_t sig) { return kill(pid, sig) == 0 ? 0 : -errno; }

// close(2), for the parent's ends of the trampoline's pipes.
void mc_close(int32_t fd) { close(fd); }

// A pipe, close-on-exec when cloexec is set: 0 or -errno.
int32_t mc_pipe(int32_t *out, int32_t cloexec) {
  int fds[2];
  if (pipe2(fds, cloexec ? O_CLOEXEC : 0) < 0) return -errno;
  out[0] = fds[0];
  out[1] = fds[1];
  return 0;
}

// A unix socket pair (close-on-exec) for passing a file descriptor back.
int32_t mc_socketpair(int32_t *out) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return -errno;
  out[0] = fds[0];
  out[1] = fds[1];
  return 0;
}

// Receives one fd sent with SCM_RIGHTS: the fd (close-on-exec) or -errno;
// -ENODATA when the peer closed without sending one.
int32_t mc_recv_fd(int32_t sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (n == 0 || !cmsg || cmsg->cmsg_type != SCM_RIGHTS) return -ENODATA;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

// Reads what is there (at most len bytes), retrying EINTR: the count, 0 at
// EOF, or -errno (EIO once every slave of a pty master is closed).
int32_t mc_read_some(int32_t fd, uint8_t *buf, int32_t len) {
  for (;;) {
    ssize_t n = read(fd, buf, (size_t)len);
    if (n >= 0) return (int32_t)n;
    if (errno != EINTR) return -errno;
  }
}

// Writes all of buf: 0 or -errno.
int32_t mc_write_all(int32_t fd, const uint8_t *buf, int32_t len) {
  int32_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, buf + done, (size_t)(len - done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    done += (int32_t)n;
  }
  return 0;
}

// Saves terminal fd's mode into saved (at least sizeof(struct termios)
// bytes) and makes it raw as cfmakeraw does (no echo, no signals from keys,
// no output processing): 0 or -errno.
int32_t mc_tty_raw(int32_t fd, uint8_t *saved, int32_t len) {
  struct termios t;
  if ((size_t)len < sizeof t) return -EINVAL;
  if (tcgetattr(fd, &t) < 0) return -errno;
  memcpy(saved, &t, sizeof t);
  cfmakeraw(&t);
  return tcsetattr(fd, TCSADRAIN, &t) == 0 ? 0 : -errno;
}

// Restores a mode saved by mc_tty_raw: 0 or -errno.
int32_t mc_tty_restore(int32_t fd, const uint8_t *saved, int32_t len) {
  struct termios t;
  if ((size_t)len < sizeof t) return -EINVAL;
  memcpy(&t, saved, sizeof t);
  return tcsetattr(fd, TCSADRAIN, &t) == 0 ? 0 : -errno;
}

// bpf(2) for the parent (device programs on cgroup v2): the result or -errno.
int64_t mc_bpf(int32_t cmd, void *attr, uint32_t size) {
  long r = syscall(SYS_bpf, cmd, attr, size);
  return r < 0 ? -errno : r;
}

// Sets a terminal's window size: 0 or -errno.
int32_t mc_set_winsize(int32_t fd, uint16_t rows, uint16_t cols) {
  struct {
    unsigned short rows, cols, xpixel, ypixel;
  } ws = {rows, cols, 0, 0};
  return ioctl(fd, TIOCSWINSZ, &ws) == 0 ? 0 : -errno;
}

// A close-on-exec memfd named name holding len bytes: its fd or -errno.
// With seal, sealed against any change (writes through any fd or mapping,
// resizing, and removing the seals): a program executed from it (the exec
// helper) is then a file no process can write. Here rather than in
// ffi/libc.ts: `run` loads this library anyway, libc's bindings cost it 5 ms.
int32_t mc_memfd(const char *name, const uint8_t *bytes, int64_t len, int32_t seal) {
  int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
  if (fd < 0) return -errno;
  for (int64_t done = 0; done < len;) {
    ssize_t n = write(fd, bytes + done, (size_t)(len - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return -err;
    }
    done += n;
  }
  // Sealed: a program, executable by all and readable by none, so that
  // whoever executes it is non-dumpable from the exec on (see
  // mc_unreadable_exec).
  if (seal && (fchmod(fd, 0111) < 0 ||
               fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

// The layout version the TypeScript encoder checks before it trusts this .so.
int32_t mc_abi_version(void) { return 8; }

// Blocking helpers for the parent. JavaScript calls them through nonblocking
// FFI symbols, on a worker thread, so the event loop keeps forwarding
// signals; errno does not survive that hop, so they return -errno instead.

// waitpid() for one pid, retried across EINTR: the wait status or -errno.
int32_t mc_wait(int32_t pid) {
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, __WALL) >= 0) return status;
    if (errno != EINTR) return -errno;
  }
}

// Reads until len bytes or EOF: the byte count or -errno.
int32_t mc_read_full(int32_t fd, uint8_t *buf, int32_t len) {
  int32_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, buf + got, (size_t)(len - got));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    got += (int32_t)n;
  }
  return got;
}
