// gcProbe.stackHeld(callGc) and gcProbe.dropped(callGc): see binding.gyp. Both allocate one
// object on the isolate's CppHeap, keep a weak handle to it (cleared when the GC frees it), call
// callGc() (which runs a full GC), and say whether the object survived.
// - stackHeld: the only strong reference is a local on this thread's stack. A correct
//   conservative stack scan keeps it alive: true.
// - dropped: nothing refers to it any more. The GC really collects it: false. (The control that
//   shows a `true` from stackHeld means something.)
// Both throw if the isolate has no CppHeap, so that a Node without one cannot pass the test.
#include <node.h>
#include <v8-cppgc.h>

#include <cppgc/allocation.h>
#include <cppgc/garbage-collected.h>
#include <cppgc/persistent.h>
#include <cppgc/visitor.h>

#include <cstdint>
#include <cstring>

#if defined(_MSC_VER)
#define GC_PROBE_NOINLINE __declspec(noinline)
#else
#define GC_PROBE_NOINLINE __attribute__((noinline))
#endif

namespace {

constexpr uint64_t kAlive = 0x6a6f62737461636bULL;

struct Probe final : cppgc::GarbageCollected<Probe> {
  uint64_t marker = kAlive;
  ~Probe() { marker = 0; }
  void Trace(cppgc::Visitor*) const {}
};

v8::CppHeap* HeapOrThrow(v8::Isolate* isolate) {
  v8::CppHeap* heap = isolate->GetCppHeap();
  if (heap == nullptr) {
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "gc_probe: this isolate has no CppHeap")));
  }
  return heap;
}

bool CallGc(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsFunction()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "gc_probe: expected a function that runs gc()")));
    return false;
  }
  return !info[0].As<v8::Function>()->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 0, nullptr).IsEmpty();
}

void StackHeld(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::CppHeap* heap = HeapOrThrow(info.GetIsolate());
  if (heap == nullptr) return;
  // volatile: the pointer must sit in this frame across the call, not only in a register the
  // callee might spill somewhere else.
  Probe* volatile held = cppgc::MakeGarbageCollected<Probe>(heap->GetAllocationHandle());
  cppgc::WeakPersistent<Probe> weak(held);
  if (!CallGc(info)) return;
  const bool survived = weak.Get() != nullptr && held->marker == kAlive;
  info.GetReturnValue().Set(survived);
}

// Allocates in a frame of its own that is gone before the GC runs.
GC_PROBE_NOINLINE cppgc::WeakPersistent<Probe>* AllocateUnreferenced(v8::CppHeap* heap) {
  return new cppgc::WeakPersistent<Probe>(cppgc::MakeGarbageCollected<Probe>(heap->GetAllocationHandle()));
}

// Overwrites the stack below the caller, where AllocateUnreferenced's frame was.
GC_PROBE_NOINLINE void ScrubStack() {
  volatile unsigned char scratch[4096];
  std::memset(const_cast<unsigned char*>(scratch), 0, sizeof scratch);
}

void Dropped(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::CppHeap* heap = HeapOrThrow(info.GetIsolate());
  if (heap == nullptr) return;
  cppgc::WeakPersistent<Probe>* weak = AllocateUnreferenced(heap);
  ScrubStack();
  const bool ok = CallGc(info);
  const bool survived = weak->Get() != nullptr;
  delete weak;
  if (ok) info.GetReturnValue().Set(survived);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "stackHeld", StackHeld);
  NODE_SET_METHOD(exports, "dropped", Dropped);
}
