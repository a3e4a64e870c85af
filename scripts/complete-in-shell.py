#!/usr/bin/env python3
"""Completes a command line in a real interactive shell, as a user pressing TAB would.

usage: complete-in-shell.py SHELL FERRY DIRECTORY LINE...

Starts SHELL (bash, zsh or fish) in a pseudo-terminal, loads the completion script that
`FERRY --generate-completion-script SHELL` prints, changes to DIRECTORY and types each LINE.
Prints one line per LINE: for bash and zsh the line as TAB left it; for fish the candidates that
`complete -C` gives, separated by spaces.
"""
import os, pty, select, sys, time

shell, ferry, directory = sys.argv[1:4]
lines = sys.argv[4:]
env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(ferry)) + ":" + os.environ["PATH"], HOME=directory)
if shell == "bash":
    argv = ["bash", "--norc", "--noprofile", "-i"]
    setup = ("bind -x '\"\\C-x\\C-p\": printf \"\\n<<%%s>>\\n\" \"$READLINE_LINE\"'; "
             "source <(ferry --generate-completion-script bash); cd %s" % directory)
elif shell == "zsh":
    argv = ["zsh", "-f", "-i"]
    setup = ("autoload -U compinit; compinit -u -D; source <(ferry --generate-completion-script zsh); "
             "compdef _ferry ferry; show() { zle -I; print -r -- \"<<$BUFFER>>\" }; zle -N show; "
             "bindkey '^X^P' show; cd %s" % directory)
elif shell == "fish":
    argv = ["fish", "--no-config", "-i"]
    setup = "ferry --generate-completion-script fish | source; cd %s" % directory
else:
    sys.exit("unknown shell " + shell)

pid, fd = pty.fork()
if pid == 0:
    os.execvpe(argv[0], argv, env)

output = b""


def drain(seconds, until=None):
    """Reads what the shell prints for up to `seconds`, or until `until` has appeared."""
    global output
    end = time.time() + seconds
    while time.time() < end and not (until and until in output):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                output += os.read(fd, 65536)
            except OSError:
                return


def clear_line():
    """Empties the line and waits until the shell shows it empty: a shell busy finishing a
    completion can drop a kill-line typed ahead, which would prefix the next line with this one."""
    global output
    for _ in range(5):
        output = b""
        os.write(fd, b"\x15\x18\x10")
        drain(5.0, b"<<>>\r\n")
        if b"<<>>\r\n" in output:
            return
        time.sleep(0.5)


drain(1.0)
os.write(fd, setup.encode() + b"; echo setup-done\n")
drain(10.0, b"setup-done\r\n")
for line in lines:
    output = b""
    if shell == "fish":
        os.write(fd, b"echo '<<'; complete -C'" + line.encode() + b"'; echo '>>'\n")
        drain(10.0, b"\n>>")
        text = output.decode(errors="replace").replace("\r", "")
        start, end = text.rfind("<<\n"), text.rfind("\n>>")
        found = [l.split("\t")[0] for l in text[start + 3:end].split("\n") if l] if start >= 0 else [text]
        print(" ".join(found) if found else "")
    else:
        os.write(fd, line.encode() + b"\t")
        drain(1.5)
        os.write(fd, b"\x18\x10")
        drain(10.0, b">>\r\n")
        text = output.decode(errors="replace").replace("\r", "")
        found = [l for l in text.split("\n") if l.startswith("<<") and l.endswith(">>")]
        print(found[-1][2:-2] if found else text)
        clear_line()
os.kill(pid, 9)
os.waitpid(pid, 0)
