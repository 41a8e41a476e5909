#ifndef SPAWN_CHILD_H
#define SPAWN_CHILD_H

#include <sys/types.h>

/// Starts `path` with `argv`/`envp` in its own process group, with every signal unblocked and
/// SIGINT/SIGTERM/SIGPIPE/SIGQUIT at their defaults — whatever thread (e.g. a libdispatch worker
/// with all signals blocked) calls it. stdin/stdout/stderr become the given descriptors and are
/// the only ones it inherits (every descriptor from 3 up is closed); `cwd` may be NULL. Returns 0
/// and the pid, or an errno.
int kvmb_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
               int stdin_fd, int stdout_fd, int stderr_fd, pid_t *pid_out);

/// For a process about to exec another program in its place (`kvmbuild console` → tail,
/// `kvmbuild ssh` → ssh): unblocks every signal on the calling thread (Swift's async threads run
/// with them blocked, and exec keeps the mask) and puts SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGPIPE
/// back to their defaults, so Ctrl-C reaches the new program.
void kvmb_reset_signals_for_exec(void);

/// Decodes a waitpid status: the exit code, or 128 + signal number.
int kvmb_exit_code(int status);

/// pipe2(O_CLOEXEC): a _GNU_SOURCE function Glibc's Swift overlay does not expose.
int kvmb_pipe_cloexec(int fds[2]);

#endif
