// What the job engine needs of a wait context beyond the public C API.
//
// Contract: called by the engine on the thread of the job that owns the context, when a paused
// job resumes; nobody else calls it.
#ifndef ASYNCJOB_CORE_WAIT_CTX_H
#define ASYNCJOB_CORE_WAIT_CTX_H

#include "asyncjob.h"

namespace asyncjob {

// Forgets the fds cleared since the last resume and marks every fd as no longer new, so that
// get_changed_fds reports only what changes from now on (OpenSSL's async_wait_ctx_reset_counts).
void waitCtxResetCounts(asyncjob_wait_ctx* ctx);

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_WAIT_CTX_H
