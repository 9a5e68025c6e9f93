// The process-wide job budget: how much of the process's memory maps, address space and threads
// the jobs of all its threads may hold together, so that jobs run out well before the process
// does (an mmap or pthread_create that fails is the lucky case; the allocation after it, in V8's
// heap or anywhere else, is the one that kills the process).
//
// Contract
// - A job charges its JobCost when its stack (and thread) is made, and gets it refunded when they
//   are freed. chargeJob() refuses, changing nothing, a job that would take the jobs beyond the
//   budget in any of the three.
// - The budget is derived once, at its first use, from the limits that bind the process then:
//   half of what is left under each, the other half staying with the rest of the process (V8's
//   heap, malloc, other threads). Maps: Linux's vm.max_map_count. Address space: RLIMIT_AS and
//   RLIMIT_DATA. Threads: kernel.threads-max and kernel.pid_max (Linux), the cgroup's pids.max
//   (cgroup v2), RLIMIT_NPROC (not for root, whom it does not bind). Limits that change later
//   are not followed. Where none of them exists (Windows), nothing is ever refused.
// - With glibc, a job that brings a new thread may also bring the malloc arena glibc reserves
//   for it (64 MiB of address space, kept after the thread ends and reused by the next one):
//   while arenas can still be created, such a job is charged one, for good.
// - Safe to call from any thread.
#ifndef ASYNCJOB_CORE_JOB_BUDGET_H
#define ASYNCJOB_CORE_JOB_BUDGET_H

#include <cstdint>

namespace asyncjob {

struct JobCost {
  uint64_t maps = 0;     // memory mappings
  uint64_t bytes = 0;    // address space reserved
  uint64_t threads = 0;  // OS threads
};

bool chargeJob(const JobCost& cost);
void refundJob(const JobCost& cost);

// How many jobs of this cost the whole budget holds, with nothing else charged; UINT64_MAX when
// no limit binds them.
uint64_t jobCapacity(const JobCost& cost);

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_JOB_BUDGET_H
