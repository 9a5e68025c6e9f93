{
  "targets": [
    {
      "target_name": "asyncjob",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/errors.cc",
        "native/addon/fd_poll.cc",
        "native/addon/js_jobs.cc",
        "native/addon/native_api.cc",
        "native/addon/pipe.cc",
        "native/addon/wait_ctx.cc",
        "native/core/fiber_posix.cc",
        "native/core/fiber_windows.cc",
        "native/core/stack.cc",
        "native/core/host_thread.cc",
        "native/core/job_budget.cc",
        "native/core/job.cc",
        "native/core/wait_ctx.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: when the environment is terminating (a worker
      # being stopped), a throw from native code cannot reach JavaScript; node-addon-api must
      # then drop it rather than escape as a C++ exception and abort the process.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      # The C++ standard is the one Node's common.gypi sets: C++17 up to Node 22, C++20 from
      # Node 24 (whose V8 headers need it). asyncjob's code is both.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions"],
      "xcode_settings": {
        "CLANG_CXX_LIBRARY": "libc++",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1
        }
      },
      "conditions": [
        ["OS=='linux'", {
          "libraries": ["-lpthread"]
        }],
        # Winsock: pipe() and the fd waits use sockets on Windows.
        ["OS=='win'", {
          "libraries": ["ws2_32.lib"]
        }]
      ]
    }
  ]
}
