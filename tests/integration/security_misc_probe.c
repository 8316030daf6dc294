// A probe for security_misc_test.ts, run inside containers, built with
// `cc -static`: each mode makes one attempt and prints what the kernel
// answered (ok or the errno's name). Never part of the runtime.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int report(long r) {
  printf("%s\n", r < 0 ? strerrorname_np(errno) : "ok");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *m = argv[1];
  if (!strcmp(m, "io_uring_setup")) {
    // struct io_uring_params is 120 bytes; zeroed asks for the defaults.
    char params[120] = {0};
    long fd = syscall(SYS_io_uring_setup, 1, params);
    if (fd >= 0) close(fd);
    return report(fd);
  }
  if (!strcmp(m, "mknod-open") && argc == 5) {
    // mknod PATH c MAJOR MINOR, then open it for writing and write to it:
    // only the device cgroup stands between this and the host's device.
    dev_t dev = makedev(atoi(argv[3]), atoi(argv[4]));
    unlink(argv[2]);
    if (mknod(argv[2], S_IFCHR | 0600, dev) < 0) return report(-1);
    int fd = open(argv[2], O_WRONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return report(-1);
    close(fd);
    return report(0);
  }
  if (!strcmp(m, "exchange") && argc == 4) {
    // Swaps two names for ever (until killed): a symlink to a host path
    // and a plain file or directory, as fast as the kernel allows.
    printf("swapping\n");
    fflush(stdout);
    for (;;) {
      if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 2 /* RENAME_EXCHANGE */) < 0) {
        return report(-1);
      }
    }
  }
  return 2;
}
