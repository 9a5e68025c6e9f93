{
  # A test-only addon that asks V8's garbage collector a question no Node-API call can: is a
  # C++ object that only the machine stack refers to still alive after a full GC? cppgc (the
  # C++ heap Node attaches to every isolate) finds such objects by scanning the stack of the
  # thread that runs the GC, from its stack pointer up to the stack start V8 holds for it. If a
  # hand-off leaves V8 with another thread's stack start, that scan covers the wrong range and
  # the object is freed while still in use (test/stack-start.test.ts).
  "targets": [
    {
      "target_name": "gc_probe",
      "sources": ["gc_probe.cc"],
      # node.h's NODE_MODULE_INIT casts between function types; the warning is about Node's macro.
      "cflags_cc": ["-Wno-cast-function-type"]
    }
  ]
}
