/**
 * The default seccomp profile: Docker's default profile
 * (github.com/moby/profiles seccomp/default.json v0.2.3, vendored by moby
 * at commit b985e231, docker v29.7) for the x86_64 and aarch64 machines,
 * rule for rule. Everything not listed fails with EPERM (its
 * defaultErrnoRet); calls that need a capability (mount, unshare, setns,
 * bpf, ...) are allowed only when the container holds it, as Docker does;
 * clone may not create namespaces and clone3 fails with ENOSYS so that libc
 * falls back to clone.
 *
 * Denied in particular (not in any list below): io_uring_setup,
 * io_uring_enter and io_uring_register (Docker since moby 25: io_uring
 * bypasses the filter for the calls it submits), keyctl, add_key,
 * request_key (the kernel keyring is not namespaced), kexec_load,
 * kexec_file_load, userfaultfd, uselib, swapon/swapoff, the old *_module
 * calls, lookup_dcookie, nfsservctl, vm86, sockets of AF_ALG and AF_VSOCK,
 * and anything added to the kernel after the profile was written
 * (file_getattr, file_setattr, listns, ...).
 *
 * Deliberate differences from Docker's: ioctl TIOCSTI and TIOCLINUX fail
 * with EPERM (no pushing input into a terminal shared with the host); the
 * ABIs filtered are x86_64, x32 and i386 on x86_64 and aarch64 on aarch64
 * (32-bit arm calls on aarch64 are refused, so Docker's arm-only names have
 * no ABI to apply to here).
 * @module
 */

import type { Seccomp, SeccompSyscall } from "../spec.ts";
import { DEFAULT_CAPABILITIES } from "./capabilities.ts";

/** Calls any container may make. Names a machine does not have are skipped. */
const ALLOWED = `
  accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
  chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
  clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
  copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
  epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
  exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
  fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
  fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
  ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
  getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
  getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
  getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
  getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
  getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
  io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
  io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
  lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr _llseek
  lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create
  memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
  munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
  pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
  ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
  pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
  recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
  restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
  rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
  rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
  sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
  sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
  semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
  sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
  setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
  setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
  setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
  sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx
  symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
  timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
  timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
  truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat
  utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`;

/**
 * Allowed since Linux 4.8, where ptrace can no longer be used to get around
 * seccomp (Docker allows them from that kernel on; older ones are long gone).
 * Machine-specific calls ride along: names a machine lacks are skipped.
 */
const ALLOWED_TOO = `
  ptrace process_vm_readv process_vm_writev
  arch_prctl modify_ldt
`;

/** Calls allowed when the container holds a capability (Docker's "includes caps"). */
const BY_CAPABILITY: Record<string, string> = {
  CAP_SYS_ADMIN: `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
    lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree
    perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2
    unshare`,
  CAP_SYS_BOOT: "reboot",
  CAP_SYS_CHROOT: "chroot",
  CAP_SYS_MODULE: "delete_module init_module finit_module",
  CAP_SYS_PACCT: "acct",
  CAP_SYS_PTRACE: "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
  CAP_SYS_RAWIO: "iopl ioperm",
  CAP_SYS_TIME: "settimeofday stime clock_settime clock_settime64",
  CAP_SYS_TTY_CONFIG: "vhangup",
  CAP_SYS_NICE: "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
  CAP_SYSLOG: "syslog",
  CAP_BPF: "bpf",
  CAP_PERFMON: "perf_event_open",
  CAP_DAC_READ_SEARCH: "open_by_handle_at",
};

/** Every CLONE_NEW* flag clone(2) takes: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/**
 * Socket families Docker keeps from containers: AF_ALG (38, the kernel's
 * crypto API, a recurring source of kernel bugs) and AF_VSOCK (40, sockets
 * to the hypervisor).
 */
const AF_ALG = 38;
const AF_VSOCK = 40;

/** personality(2) values Docker allows: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE and query. */
const PERSONALITIES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

/** TIOCSTI pushes bytes into a terminal's input; TIOCLINUX can do the same on a console. */
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

const EPERM = 1;
const ENOSYS = 38;

const words = (text: string) => text.trim().split(/\s+/);

/**
 * The default profile for a container whose bounding set is `capabilities`:
 * Docker's rule that holding a capability also opens the calls it governs
 * (with CAP_SYS_ADMIN: mount, unshare, namespaced clone, ...).
 */
export function defaultSeccompProfile(
  capabilities: readonly string[] = DEFAULT_CAPABILITIES,
): Seccomp {
  const has = (cap: string) => capabilities.includes(cap);
  const syscalls: SeccompSyscall[] = [
    { names: words(ALLOWED), action: "SCMP_ACT_ALLOW" },
    { names: words(ALLOWED_TOO), action: "SCMP_ACT_ALLOW" },
    // Any socket but AF_ALG and AF_VSOCK (Docker's three rules).
    {
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: AF_ALG, op: "SCMP_CMP_LT" }],
    },
    {
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: AF_ALG + 1, op: "SCMP_CMP_EQ" }],
    },
    {
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_GT" }],
    },
    // Only the harmless personalities; others turn off ASLR-like protections
    // or switch to foreign ABIs.
    ...PERSONALITIES.map((value) => ({
      names: ["personality"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
    })),
    // No injecting input into a terminal shared with the host. The request
    // is an unsigned int: compare its low 32 bits only, so that garbage in
    // the upper half of the register cannot slip past the rule.
    ...[TIOCSTI, TIOCLINUX].map((request) => ({
      names: ["ioctl"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: EPERM,
      args: [{ index: 1, value: 0xffffffff, valueTwo: request, op: "SCMP_CMP_MASKED_EQ" }],
    })),
  ];
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) {
    if (has(cap)) syscalls.push({ names: words(names), action: "SCMP_ACT_ALLOW" });
  }
  if (!has("CAP_SYS_ADMIN")) {
    syscalls.push(
      // Threads and processes, but no new namespaces (flags are clone's
      // first argument on x86_64 and aarch64).
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      },
      // clone3 passes its flags in memory, out of a filter's reach: ENOSYS
      // makes glibc fall back to clone, which the rule above can check.
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    );
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: [
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X32",
      "SCMP_ARCH_AARCH64",
      "SCMP_ARCH_ARM",
    ],
    syscalls,
  };
}
