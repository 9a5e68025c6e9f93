// Job stacks: where they come from and how big they are.
//
// Contract
// - stackAllocate() takes memory from the installed allocator (asyncjob_set_mem_functions) and
//   remembers the matching free function in the Stack, so a stack is always returned to the
//   allocator that made it. The first allocation in the process locks the allocator.
// - The default allocator maps each stack with a PROT_NONE guard page just below it, so an
//   overflow faults at the guard instead of writing over other memory.
// - Safe to call from any thread.
#ifndef ASYNCJOB_CORE_STACK_H
#define ASYNCJOB_CORE_STACK_H

#include <cstddef>

#include "asyncjob.h"

namespace asyncjob {

struct Stack {
  void* base = nullptr;  // lowest usable address; the stack grows down towards it
  size_t size = 0;       // usable bytes from base
  asyncjob_stack_free_fn release = nullptr;
};

bool stackAllocate(size_t requested, Stack* out);
void stackFree(Stack* stack);

size_t pageSize();

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_STACK_H
