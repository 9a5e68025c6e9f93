// pipe(): a pipe whose two ends are non-blocking and close-on-exec, as [readFd, writeFd] — the
// kind of fd a job hands to its WaitCtx. Throws a SystemError when a system call fails.
//
// Windows: libuv watches sockets only (not pipes or files), so the "pipe" is a connected pair of
// loopback TCP sockets, each end a C runtime fd of node.exe's (uv_open_osfhandle), so that
// Node's fs functions read, write and close it. Writes go to the write end, reads come from the
// read end, as with a pipe; closing the write end is end of file at the read end.
#ifndef ASYNCJOB_ADDON_PIPE_H
#define ASYNCJOB_ADDON_PIPE_H

#include <napi.h>

namespace asyncjob::addon {

Napi::Value Pipe(const Napi::CallbackInfo& info);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_PIPE_H
