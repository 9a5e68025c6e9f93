// Wait contexts: fds by key, change tracking across pauses, cleanups, callback and status.
#include <vector>

#include "asyncjob.h"
#include "testing.h"

namespace {

struct Changes {
  std::vector<asyncjob_fd> added;
  std::vector<asyncjob_fd> deleted;
};

Changes changedFds(asyncjob_wait_ctx* ctx) {
  size_t numAdded = 0;
  size_t numDeleted = 0;
  asyncjob_wait_ctx_get_changed_fds(ctx, nullptr, &numAdded, nullptr, &numDeleted);
  Changes c;
  c.added.resize(numAdded);
  c.deleted.resize(numDeleted);
  asyncjob_wait_ctx_get_changed_fds(ctx, c.added.data(), &numAdded, c.deleted.data(), &numDeleted);
  return c;
}

std::vector<asyncjob_fd> allFds(asyncjob_wait_ctx* ctx) {
  size_t count = 0;
  asyncjob_wait_ctx_get_all_fds(ctx, nullptr, &count);
  std::vector<asyncjob_fd> fds(count);
  asyncjob_wait_ctx_get_all_fds(ctx, fds.data(), &count);
  return fds;
}

const char kKey1[] = "key1";
const char kKey2[] = "key2";

// OpenSSL's test_ASYNC_WAIT_CTX_get_all_fds sequence, seen from the caller at each pause.
int changingFds(void*) {
  asyncjob_wait_ctx* ctx = asyncjob_get_wait_ctx(asyncjob_get_current_job());
  asyncjob_pause_job();  // pause 1: nothing set
  asyncjob_wait_ctx_set_wait_fd(ctx, kKey1, 1, nullptr, nullptr);
  asyncjob_pause_job();  // pause 2: fd 1 added
  asyncjob_wait_ctx_clear_fd(ctx, kKey1);
  asyncjob_pause_job();  // pause 3: fd 1 deleted
  asyncjob_wait_ctx_set_wait_fd(ctx, kKey2, 2, nullptr, nullptr);
  asyncjob_wait_ctx_clear_fd(ctx, kKey2);
  asyncjob_pause_job();  // pause 4: added and cleared in one run: neither list
  asyncjob_wait_ctx_set_wait_fd(ctx, kKey1, 3, nullptr, nullptr);
  asyncjob_wait_ctx_set_wait_fd(ctx, kKey2, 4, nullptr, nullptr);
  asyncjob_pause_job();  // pause 5: 4 and 3 added
  return 1;
}

}  // namespace

TEST(changed_fds_across_pauses) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  REQUIRE(ctx != nullptr, "new");
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, ctx, &ret, changingFds, nullptr, 0) == ASYNCJOB_PAUSE, "1");
  Changes c = changedFds(ctx);
  EXPECT(c.added.empty() && c.deleted.empty(), "pause 1: %zu added %zu deleted", c.added.size(),
         c.deleted.size());
  EXPECT(allFds(ctx).empty(), "pause 1: no fds");

  REQUIRE(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_PAUSE, "2");
  c = changedFds(ctx);
  EXPECT(c.added.size() == 1 && c.added[0] == 1 && c.deleted.empty(), "pause 2: %zu added %zu deleted",
         c.added.size(), c.deleted.size());
  EXPECT(allFds(ctx) == std::vector<asyncjob_fd>{1}, "pause 2: fd 1 set");

  REQUIRE(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_PAUSE, "3");
  c = changedFds(ctx);
  EXPECT(c.added.empty() && c.deleted.size() == 1 && c.deleted[0] == 1,
         "pause 3: %zu added %zu deleted", c.added.size(), c.deleted.size());
  EXPECT(allFds(ctx).empty(), "pause 3: a cleared fd is not listed");

  REQUIRE(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_PAUSE, "4");
  c = changedFds(ctx);
  EXPECT(c.added.empty() && c.deleted.empty(), "pause 4: %zu added %zu deleted", c.added.size(),
         c.deleted.size());

  REQUIRE(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_PAUSE, "5");
  c = changedFds(ctx);
  EXPECT((c.added == std::vector<asyncjob_fd>{4, 3}) && c.deleted.empty(),
         "pause 5: newest first, %zu added", c.added.size());
  EXPECT((allFds(ctx) == std::vector<asyncjob_fd>{4, 3}), "pause 5: all fds newest first");

  EXPECT(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_FINISH, "finish");
  asyncjob_wait_ctx_free(ctx);
}

TEST(get_fd_and_clear_fd_by_key) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  int data1 = 0;
  int data2 = 0;
  asyncjob_fd fd = -1;
  void* custom = nullptr;
  EXPECT(asyncjob_wait_ctx_get_fd(ctx, kKey1, &fd, &custom) == 0, "unknown key");
  EXPECT(asyncjob_wait_ctx_set_wait_fd(ctx, kKey1, 10, &data1, nullptr) == 1, "set");
  EXPECT(asyncjob_wait_ctx_set_wait_fd(ctx, kKey1, 11, &data2, nullptr) == 1, "set the key again");
  EXPECT(asyncjob_wait_ctx_get_fd(ctx, kKey1, &fd, &custom) == 1, "found");
  EXPECT(fd == 11 && custom == &data2, "the most recent entry wins: fd %d", static_cast<int>(fd));
  EXPECT(allFds(ctx).size() == 2, "both entries are listed");
  EXPECT(asyncjob_wait_ctx_clear_fd(ctx, kKey1) == 1, "clears the most recent");
  EXPECT(asyncjob_wait_ctx_get_fd(ctx, kKey1, &fd, &custom) == 1 && fd == 10 && custom == &data1,
         "the older entry is back, fd %d", static_cast<int>(fd));
  EXPECT(asyncjob_wait_ctx_clear_fd(ctx, kKey1) == 1, "clears the older");
  EXPECT(asyncjob_wait_ctx_clear_fd(ctx, kKey1) == 0, "nothing left to clear");
  EXPECT(asyncjob_wait_ctx_clear_fd(ctx, kKey2) == 0, "unknown key");
  asyncjob_wait_ctx_free(ctx);
}

namespace {

std::vector<asyncjob_fd> g_cleaned;

void recordCleanup(asyncjob_wait_ctx*, const void*, asyncjob_fd fd, void* custom) {
  g_cleaned.push_back(fd);
  if (custom != nullptr) (*static_cast<int*>(custom))++;
}

int setThreeClearOne(void*) {
  asyncjob_wait_ctx* ctx = asyncjob_get_wait_ctx(asyncjob_get_current_job());
  static const char a[] = "a", b[] = "b", c[] = "c";
  asyncjob_wait_ctx_set_wait_fd(ctx, a, 1, nullptr, recordCleanup);
  asyncjob_wait_ctx_set_wait_fd(ctx, b, 2, nullptr, recordCleanup);
  asyncjob_pause_job();
  asyncjob_wait_ctx_clear_fd(ctx, a);               // cleared after a resume: marked deleted
  asyncjob_wait_ctx_set_wait_fd(ctx, c, 3, nullptr, recordCleanup);
  asyncjob_wait_ctx_clear_fd(ctx, c);               // added and cleared: dropped at once
  return 0;
}

}  // namespace

TEST(free_runs_cleanups_only_for_fds_still_set) {
  g_cleaned.clear();
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, ctx, &ret, setThreeClearOne, nullptr, 0) == ASYNCJOB_PAUSE,
          "pauses");
  REQUIRE(asyncjob_start_job(&job, ctx, &ret, nullptr, nullptr, 0) == ASYNCJOB_FINISH,
          "finishes");
  EXPECT(g_cleaned.empty(), "clear_fd runs no cleanup");
  asyncjob_wait_ctx_free(ctx);
  EXPECT((g_cleaned == std::vector<asyncjob_fd>{2}), "only fd 2 was still set; %zu cleanups ran",
         g_cleaned.size());
  asyncjob_wait_ctx_free(nullptr);  // harmless, as OPENSSL_free(NULL)
}

TEST(cleanup_receives_its_key_fd_and_data) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  static const void* seenKey;
  static asyncjob_wait_ctx* seenCtx;
  auto cleanup = [](asyncjob_wait_ctx* c, const void* key, asyncjob_fd fd, void* custom) {
    seenCtx = c;
    seenKey = key;
    *static_cast<asyncjob_fd*>(custom) = fd;
  };
  asyncjob_fd seenFd = -1;
  asyncjob_wait_ctx_set_wait_fd(ctx, kKey2, 77, &seenFd, cleanup);
  asyncjob_wait_ctx_free(ctx);
  EXPECT(seenCtx == ctx && seenKey == kKey2 && seenFd == 77, "fd %d", static_cast<int>(seenFd));
}

TEST(callback_and_status) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  asyncjob_callback_fn callback = nullptr;
  void* arg = nullptr;
  EXPECT(asyncjob_wait_ctx_get_callback(ctx, &callback, &arg) == 0, "no callback yet");
  EXPECT(asyncjob_wait_ctx_get_status(ctx) == ASYNCJOB_STATUS_UNSUPPORTED, "initial status %d",
         asyncjob_wait_ctx_get_status(ctx));
  static int calls;
  auto wake = [](void* a) -> int {
    calls += *static_cast<int*>(a);
    return 1;
  };
  int step = 5;
  EXPECT(asyncjob_wait_ctx_set_callback(ctx, wake, &step) == 1, "set");
  EXPECT(asyncjob_wait_ctx_get_callback(ctx, &callback, &arg) == 1, "get");
  EXPECT(arg == &step, "arg comes back");
  calls = 0;
  EXPECT(callback != nullptr && callback(arg) == 1 && calls == 5, "the callback runs, calls=%d",
         calls);
  EXPECT(asyncjob_wait_ctx_set_callback(ctx, nullptr, nullptr) == 1, "unset");
  EXPECT(asyncjob_wait_ctx_get_callback(ctx, &callback, &arg) == 0, "gone");
  for (int status : {ASYNCJOB_STATUS_ERR, ASYNCJOB_STATUS_OK, ASYNCJOB_STATUS_EAGAIN}) {
    EXPECT(asyncjob_wait_ctx_set_status(ctx, status) == 1, "set %d", status);
    EXPECT(asyncjob_wait_ctx_get_status(ctx) == status, "get %d", asyncjob_wait_ctx_get_status(ctx));
  }
  asyncjob_wait_ctx_free(ctx);
}

TEST(null_wait_ctx_is_refused) {
  size_t n = 0;
  asyncjob_fd fd = 0;
  EXPECT(asyncjob_wait_ctx_set_wait_fd(nullptr, kKey1, 1, nullptr, nullptr) == 0, "set");
  EXPECT(asyncjob_wait_ctx_get_fd(nullptr, kKey1, &fd, nullptr) == 0, "get");
  EXPECT(asyncjob_wait_ctx_get_all_fds(nullptr, nullptr, &n) == 0, "all");
  EXPECT(asyncjob_wait_ctx_get_changed_fds(nullptr, nullptr, &n, nullptr, &n) == 0, "changed");
  EXPECT(asyncjob_wait_ctx_clear_fd(nullptr, kKey1) == 0, "clear");
  EXPECT(asyncjob_wait_ctx_set_callback(nullptr, nullptr, nullptr) == 0, "callback");
  EXPECT(asyncjob_wait_ctx_set_status(nullptr, 2) == 0, "status");
}
