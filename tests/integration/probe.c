// A test probe run inside containers: each mode tries one privileged or
// escaping operation and prints what the kernel answered. Built by
// security_test.ts with `cc -static`; never part of the runtime.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static int report(long r) {
  if (r < 0) printf("%s\n", strerrorname_np(errno));
  else printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *m = argv[1];
  if (!strcmp(m, "mount")) return report(mount("none", "/tmp", "tmpfs", 0, 0));
  if (!strcmp(m, "keyctl")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
  if (!strcmp(m, "unshare-user")) return report(unshare(CLONE_NEWUSER));
  if (!strcmp(m, "tiocsti")) {
    char c = 'x';
    return report(ioctl(0, TIOCSTI, &c));
  }
  if (!strcmp(m, "open-by-handle")) {
    struct {
      struct file_handle h;
      unsigned char bytes[128];
    } fh;
    fh.h.handle_bytes = 128;
    int mount_id;
    // /dev is our tmpfs, which hands out file handles (an overlayfs root may not).
    if (name_to_handle_at(AT_FDCWD, "/dev", &fh.h, &mount_id, 0) < 0) return report(-1);
    return report(open_by_handle_at(AT_FDCWD, &fh.h, O_RDONLY));
  }
  if (!strcmp(m, "euid")) {
    printf("%d\n", (int)geteuid());
    return 0;
  }
  if (!strcmp(m, "write") && argc > 2) {
    int fd = open(argv[2], O_WRONLY);
    if (fd < 0) return report(-1);
    return report(write(fd, "h", 1));
  }
  if (!strcmp(m, "chroot-escape") && argc > 2) {
    // The classic: chroot into a subdirectory keeps the cwd outside it;
    // walking up from there reaches the real root of a chroot, not of a
    // pivot_root'ed mount namespace whose old root is detached.
    mkdir("/tmp/escape", 0755);
    if (chroot("/tmp/escape") < 0) return report(-1);
    for (int i = 0; i < 256; i++) chdir("..");
    if (chroot(".") < 0) return report(-1);
    printf(access(argv[2], F_OK) == 0 ? "escaped\n" : "contained\n");
    return 0;
  }
  if (!strcmp(m, "read-block") && argc > 3) {
    if (mknod("/dev/probe-disk", S_IFBLK | 0600, makedev(atoi(argv[2]), atoi(argv[3]))) < 0) return report(-1);
    int fd = open("/dev/probe-disk", O_RDONLY);
    if (fd < 0) return report(-1);
    char buf[512];
    return report(read(fd, buf, sizeof buf));
  }
  return 2;
}
