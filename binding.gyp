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
        "native/core/job.cc",
        "native/core/wait_ctx.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "CLANG_CXX_LIBRARY": "libc++",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": ["/std:c++17"]
        }
      },
      "conditions": [
        ["OS=='linux'", {
          "libraries": ["-lpthread"]
        }]
      ]
    }
  ]
}
