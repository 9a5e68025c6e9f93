#include "stack.h"

#include <atomic>
#include <mutex>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace asyncjob {

namespace {

size_t roundUpToPage(size_t n) {
  size_t page = pageSize();
  return (n + page - 1) / page * page;
}

#ifndef _WIN32
// Layout: [guard page][usable stack]. The mapping's total length is written into the guard page
// before it is locked, because OpenSSL's free signature passes only the address.
void* defaultStackAlloc(size_t* num) {
  const size_t page = pageSize();
  const size_t usable = roundUpToPage(*num);
  const size_t total = usable + page;
  int flags = MAP_PRIVATE | MAP_ANON;
#ifdef MAP_STACK
  flags |= MAP_STACK;
#endif
  void* mapping = mmap(nullptr, total, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (mapping == MAP_FAILED) return nullptr;
  *static_cast<size_t*>(mapping) = total;
  if (mprotect(mapping, page, PROT_NONE) != 0) {
    munmap(mapping, total);
    return nullptr;
  }
  *num = usable;
  return static_cast<char*>(mapping) + page;
}

void defaultStackFree(void* addr) {
  if (addr == nullptr) return;
  char* guard = static_cast<char*>(addr) - pageSize();
  if (mprotect(guard, pageSize(), PROT_READ) != 0) return;  // not ours: leak rather than crash
  munmap(guard, *reinterpret_cast<size_t*>(guard));
}
#endif

struct Allocator {
  std::mutex lock;
  bool locked = false;  // set by the first allocation; OpenSSL's allow_customize, inverted
#ifdef _WIN32
  asyncjob_stack_alloc_fn alloc = nullptr;
  asyncjob_stack_free_fn free = nullptr;
#else
  asyncjob_stack_alloc_fn alloc = defaultStackAlloc;
  asyncjob_stack_free_fn free = defaultStackFree;
#endif
};

Allocator& allocator() {
  static Allocator instance;
  return instance;
}

std::atomic<size_t> g_stackSize{ASYNCJOB_DEFAULT_STACK_SIZE};

}  // namespace

size_t pageSize() {
#ifdef _WIN32
  static const size_t size = [] {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return static_cast<size_t>(info.dwPageSize);
  }();
#else
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
#endif
  return size;
}

bool stackAllocate(size_t requested, Stack* out) {
  Allocator& a = allocator();
  asyncjob_stack_alloc_fn alloc;
  asyncjob_stack_free_fn release;
  {
    std::lock_guard<std::mutex> guard(a.lock);
    a.locked = true;
    alloc = a.alloc;
    release = a.free;
  }
  if (alloc == nullptr) return false;
  size_t size = requested;
  void* base = alloc(&size);
  if (base == nullptr) return false;
  if (size < requested) {  // the allocator may raise the size, never lower it
    if (release != nullptr) release(base);
    return false;
  }
  out->base = base;
  out->size = size;
  out->release = release;
  return true;
}

void stackFree(Stack* stack) {
  if (stack->base != nullptr && stack->release != nullptr) stack->release(stack->base);
  *stack = Stack{};
}

}  // namespace asyncjob

using asyncjob::allocator;

extern "C" int asyncjob_set_mem_functions(asyncjob_stack_alloc_fn alloc_fn,
                                          asyncjob_stack_free_fn free_fn) {
#ifdef _WIN32
  (void)alloc_fn;
  (void)free_fn;
  return 0;  // CreateFiberEx allocates fiber stacks itself
#else
  auto& a = allocator();
  std::lock_guard<std::mutex> guard(a.lock);
  if (a.locked) return 0;
  if (alloc_fn != nullptr) a.alloc = alloc_fn;
  if (free_fn != nullptr) a.free = free_fn;
  return 1;
#endif
}

extern "C" void asyncjob_get_mem_functions(asyncjob_stack_alloc_fn* alloc_fn,
                                           asyncjob_stack_free_fn* free_fn) {
  auto& a = allocator();
  std::lock_guard<std::mutex> guard(a.lock);
  if (alloc_fn != nullptr) *alloc_fn = a.alloc;
  if (free_fn != nullptr) *free_fn = a.free;
}

extern "C" int asyncjob_set_stack_size(size_t size) {
  const size_t rounded = asyncjob::roundUpToPage(size);
  if (size < ASYNCJOB_MIN_STACK_SIZE || rounded < size) return 0;  // too small, or wraps around
  asyncjob::g_stackSize.store(rounded, std::memory_order_relaxed);
  return 1;
}

extern "C" size_t asyncjob_get_stack_size(void) {
  return asyncjob::g_stackSize.load(std::memory_order_relaxed);
}
