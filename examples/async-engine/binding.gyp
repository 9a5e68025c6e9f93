{
  # The async-engine example: a client addon of asyncjob, built from asyncjob's headers alone
  # (asyncjob_client.h) and never linked to asyncjob's binary. asyncjob's include dir comes from
  # require('asyncjob/native'), as node-addon-api's does from require('node-addon-api').
  "targets": [
    {
      "target_name": "async_engine",
      "sources": ["engine.cc", "sha256.cc"],
      "include_dirs": ["<!(node -p \"require('asyncjob/native').include_dir\")"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "msvs_settings": {
        "VCCLCompilerTool": {"AdditionalOptions": ["/std:c++17"], "ExceptionHandling": 1}
      },
      # Winsock: on Windows mode 'fd' wakes the job through a loopback socket pair.
      "conditions": [
        ["OS=='win'", {"libraries": ["ws2_32.lib"]}]
      ]
    }
  ]
}
