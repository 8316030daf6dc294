"""Drives `minicontainer run -it ... sh` from a real pty, as a person at a
terminal would, and prints what it saw as JSON (used by tty_test.ts).

usage: pty_driver.py LAUNCHER ARGS...   (e.g. run -it sh, or exec -it NAME sh)
"""
import json, os, select, signal, struct, sys, termios, time, fcntl

launcher, args = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
mode_before = termios.tcgetattr(slave)

pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execv(launcher, [launcher, *args])

out = b""

def read_until(token, timeout=15):
    global out
    end = time.time() + timeout
    while token not in out:
        if time.time() > end:
            raise SystemExit(json.dumps({"error": "timeout waiting for %r" % token, "output": out.decode(errors="replace")}))
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                break

def send(text):
    os.write(master, text.encode())

def after(marker):
    """The output line before `marker`'s output (not its echo)."""
    text = out.decode(errors="replace").replace("\r", "")
    lines = text.split("\n")
    i = max(k for k, l in enumerate(lines) if l == marker)
    return lines[i - 1]

result = {}
if os.environ.get("PTY_MODE") == "attach":
    # attach NAME: a typed command runs in the container; Ctrl-P Ctrl-Q detaches.
    send("echo attached-$((6*7))\n"); read_until(b"attached-42\r\n")
    send("\x10\x11")
    _, status = os.waitpid(pid, 0)
    result["exit"] = os.waitstatus_to_exitcode(status)
    result["mode_restored"] = termios.tcgetattr(slave) == mode_before
    print(json.dumps(result))
    sys.exit(0)
send("tty; echo M$((1))\n"); read_until(b"M1\r\n")
result["tty"] = after("M1")
send("stty size; echo M$((2))\n"); read_until(b"M2\r\n")
result["size"] = after("M2")
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
time.sleep(0.3)
send("stty size; echo M$((3))\n"); read_until(b"M3\r\n")
result["resized"] = after("M3")
send("sleep 30; echo slept-$((1+1))\n")
time.sleep(0.5)
send("\x03")
send("echo alive-$((40+2))\n"); read_until(b"alive-42\r\n")
result["interrupted"] = b"slept-2" not in out
result["raw_host_output"] = b"\r\r\n" not in out
send("exit 7\n")
_, status = os.waitpid(pid, 0)
result["exit"] = os.waitstatus_to_exitcode(status)
result["mode_restored"] = termios.tcgetattr(slave) == mode_before
print(json.dumps(result))
