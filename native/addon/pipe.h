// pipe(): a pipe whose two ends are non-blocking and close-on-exec, as [readFd, writeFd] — the
// kind of fd a job hands to its WaitCtx. Throws a SystemError when the system call fails, and
// ERR_ASYNCJOB_UNSUPPORTED on Windows (not implemented there yet).
#ifndef ASYNCJOB_ADDON_PIPE_H
#define ASYNCJOB_ADDON_PIPE_H

#include <napi.h>

namespace asyncjob::addon {

Napi::Value Pipe(const Napi::CallbackInfo& info);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_PIPE_H
