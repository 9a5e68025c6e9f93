/* What the system's libstdc++.a and libgcc_eh.a, built for glibc, call and musl does not have,
 * for the core's static musl test build (musl/g++). Test-only; never shipped. */
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* libstdc++ skips atomic reference counts while this is non-zero; 0 is always correct. */
char __libc_single_threaded = 0;

/* thread_local destructors (libstdc++'s __cxa_thread_atexit calls this): run in reverse order
 * of registration when the thread exits, through a pthread key's destructor. The main thread's
 * run at exit(), as glibc's do. */
struct thread_dtor {
  void (*fn)(void *);
  void *obj;
  struct thread_dtor *next;
};

static pthread_key_t dtor_key;
static pthread_once_t dtor_once = PTHREAD_ONCE_INIT;

static void run_dtors(void *list) {
  struct thread_dtor *d = list;
  while (d != NULL) {
    struct thread_dtor *next = d->next;
    d->fn(d->obj);
    free(d);
    /* A destructor may register more: take them too. */
    if (next == NULL) {
      next = pthread_getspecific(dtor_key);
      pthread_setspecific(dtor_key, NULL);
    }
    d = next;
  }
}

static void run_main_dtors(void) {
  void *list = pthread_getspecific(dtor_key);
  pthread_setspecific(dtor_key, NULL);
  run_dtors(list);
}

static void make_key(void) {
  if (pthread_key_create(&dtor_key, run_dtors) != 0) abort();
}

int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso) {
  (void)dso;
  static int main_registered;
  pthread_once(&dtor_once, make_key);
  struct thread_dtor *d = malloc(sizeof *d);
  if (d == NULL) return -1;
  d->fn = fn;
  d->obj = obj;
  d->next = pthread_getspecific(dtor_key);
  if (pthread_setspecific(dtor_key, d) != 0) {
    free(d);
    return -1;
  }
  if (getpid() == gettid() && !main_registered) {
    main_registered = 1;
    atexit(run_main_dtors);
  }
  return 0;
}

/* std::random_device. */
uint32_t arc4random(void) {
  uint32_t value;
  if (getentropy(&value, sizeof value) != 0) abort();
  return value;
}

/* libgcc's unwinder asks glibc for the object holding a code address and its PT_GNU_EH_FRAME
 * (and gives up when the answer is no): answered here from dl_iterate_phdr. The layout is
 * glibc's on x86-64 and aarch64. */
struct dl_find_object {
  unsigned long long dlfo_flags;
  void *dlfo_map_start;
  void *dlfo_map_end;
  struct link_map *dlfo_link_map;
  void *dlfo_eh_frame;
  unsigned long long dlfo_reserved[7];
};

struct lookup {
  uintptr_t pc;
  struct dl_find_object *result;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct lookup *lookup = data;
  uintptr_t start = UINTPTR_MAX, end = 0;
  void *eh_frame = NULL;
  int holds_pc = 0;
  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    const uintptr_t begin = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) {
      if (begin < start) start = begin;
      if (begin + ph->p_memsz > end) end = begin + ph->p_memsz;
      if (lookup->pc >= begin && lookup->pc < begin + ph->p_memsz) holds_pc = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh_frame = (void *)begin;
    }
  }
  if (!holds_pc) return 0;
  lookup->result->dlfo_flags = 0;
  lookup->result->dlfo_map_start = (void *)start;
  lookup->result->dlfo_map_end = (void *)end;
  lookup->result->dlfo_link_map = NULL;
  lookup->result->dlfo_eh_frame = eh_frame;
  return 1;
}

int _dl_find_object(void *pc, struct dl_find_object *result) {
  struct lookup lookup = {(uintptr_t)pc, result};
  return dl_iterate_phdr(find_object, &lookup) > 0 ? 0 : -1;
}
