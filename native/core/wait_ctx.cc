#include "wait_ctx.h"

#include <algorithm>
#include <new>
#include <vector>

namespace {

struct WaitFd {
  const void* key;
  asyncjob_fd fd;
  void* customData;
  asyncjob_wait_fd_cleanup_fn cleanup;
  bool added;    // set since the last resume
  bool deleted;  // cleared since the last resume; kept until then so it can be reported
};

}  // namespace

struct asyncjob_wait_ctx {
  // Oldest first. Lookups and listings walk it newest first, as OpenSSL's list (which pushes at
  // the head) does: a key set twice resolves to its latest entry.
  std::vector<WaitFd> fds;
  size_t numAdded = 0;
  size_t numDeleted = 0;
  asyncjob_callback_fn callback = nullptr;
  void* callbackArg = nullptr;
  int status = ASYNCJOB_STATUS_UNSUPPORTED;
};

namespace {

// The newest entry for key that has not been cleared, or end().
std::vector<WaitFd>::iterator findLive(asyncjob_wait_ctx* ctx, const void* key) {
  auto found = std::find_if(ctx->fds.rbegin(), ctx->fds.rend(),
                            [key](const WaitFd& w) { return !w.deleted && w.key == key; });
  return found == ctx->fds.rend() ? ctx->fds.end() : std::prev(found.base());
}

}  // namespace

namespace asyncjob {

void waitCtxResetCounts(asyncjob_wait_ctx* ctx) {
  ctx->fds.erase(std::remove_if(ctx->fds.begin(), ctx->fds.end(),
                                [](const WaitFd& w) { return w.deleted; }),
                 ctx->fds.end());
  for (WaitFd& w : ctx->fds) w.added = false;
  ctx->numAdded = 0;
  ctx->numDeleted = 0;
}

}  // namespace asyncjob

extern "C" {

asyncjob_wait_ctx* asyncjob_wait_ctx_new(void) { return new (std::nothrow) asyncjob_wait_ctx; }

void asyncjob_wait_ctx_free(asyncjob_wait_ctx* ctx) {
  if (ctx == nullptr) return;
  // Detach the entries first: a cleanup that calls back into the context finds it empty.
  std::vector<WaitFd> fds;
  fds.swap(ctx->fds);
  for (auto w = fds.rbegin(); w != fds.rend(); ++w) {
    if (!w->deleted && w->cleanup != nullptr) w->cleanup(ctx, w->key, w->fd, w->customData);
  }
  delete ctx;
}

int asyncjob_wait_ctx_set_wait_fd(asyncjob_wait_ctx* ctx, const void* key, asyncjob_fd fd,
                                  void* custom_data, asyncjob_wait_fd_cleanup_fn cleanup) {
  if (ctx == nullptr) return 0;
#if defined(__cpp_exceptions)
  try {
    ctx->fds.push_back(WaitFd{key, fd, custom_data, cleanup, true, false});
  } catch (const std::bad_alloc&) {
    return 0;
  }
#else
  ctx->fds.push_back(WaitFd{key, fd, custom_data, cleanup, true, false});
#endif
  ctx->numAdded++;
  return 1;
}

int asyncjob_wait_ctx_get_fd(asyncjob_wait_ctx* ctx, const void* key, asyncjob_fd* fd,
                             void** custom_data) {
  if (ctx == nullptr) return 0;
  auto w = findLive(ctx, key);
  if (w == ctx->fds.end()) return 0;
  if (fd != nullptr) *fd = w->fd;
  if (custom_data != nullptr) *custom_data = w->customData;
  return 1;
}

int asyncjob_wait_ctx_get_all_fds(asyncjob_wait_ctx* ctx, asyncjob_fd* fd, size_t* numfds) {
  if (ctx == nullptr || numfds == nullptr) return 0;
  size_t count = 0;
  for (auto w = ctx->fds.rbegin(); w != ctx->fds.rend(); ++w) {
    if (w->deleted) continue;
    if (fd != nullptr) fd[count] = w->fd;
    count++;
  }
  *numfds = count;
  return 1;
}

int asyncjob_wait_ctx_get_changed_fds(asyncjob_wait_ctx* ctx, asyncjob_fd* addfd,
                                      size_t* numaddfds, asyncjob_fd* delfd, size_t* numdelfds) {
  if (ctx == nullptr || numaddfds == nullptr || numdelfds == nullptr) return 0;
  *numaddfds = ctx->numAdded;
  *numdelfds = ctx->numDeleted;
  for (auto w = ctx->fds.rbegin(); w != ctx->fds.rend(); ++w) {
    // clear_fd drops an fd that was added since the last resume, so no entry is both.
    if (w->added && addfd != nullptr) *addfd++ = w->fd;
    if (w->deleted && delfd != nullptr) *delfd++ = w->fd;
  }
  return 1;
}

int asyncjob_wait_ctx_clear_fd(asyncjob_wait_ctx* ctx, const void* key) {
  if (ctx == nullptr) return 0;
  auto w = findLive(ctx, key);
  if (w == ctx->fds.end()) return 0;
  // The cleanup is not run: whoever clears an fd cleans it up, as in OpenSSL.
  if (w->added) {
    ctx->fds.erase(w);  // added and cleared within one run: it never happened
    ctx->numAdded--;
  } else {
    w->deleted = true;
    ctx->numDeleted++;
  }
  return 1;
}

int asyncjob_wait_ctx_set_callback(asyncjob_wait_ctx* ctx, asyncjob_callback_fn callback,
                                   void* callback_arg) {
  if (ctx == nullptr) return 0;
  ctx->callback = callback;
  ctx->callbackArg = callback_arg;
  return 1;
}

int asyncjob_wait_ctx_get_callback(asyncjob_wait_ctx* ctx, asyncjob_callback_fn* callback,
                                   void** callback_arg) {
  if (ctx == nullptr || ctx->callback == nullptr) return 0;
  if (callback != nullptr) *callback = ctx->callback;
  if (callback_arg != nullptr) *callback_arg = ctx->callbackArg;
  return 1;
}

int asyncjob_wait_ctx_set_status(asyncjob_wait_ctx* ctx, int status) {
  if (ctx == nullptr) return 0;
  ctx->status = status;
  return 1;
}

int asyncjob_wait_ctx_get_status(asyncjob_wait_ctx* ctx) {
  return ctx == nullptr ? ASYNCJOB_STATUS_UNSUPPORTED : ctx->status;
}

}  // extern "C"
