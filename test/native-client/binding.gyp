{
  # A client addon of asyncjob built the way docs/native.md tells other addons to: asyncjob's
  # headers only (asyncjob_client.h), never linked to asyncjob's binary. The tests and
  # bench/native-from-js.mjs use it.
  "targets": [
    {
      "target_name": "client",
      "sources": ["client.cc"],
      "include_dirs": ["<!(node -p \"require('asyncjob/native').include_dir\")"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17"],
      "xcode_settings": {"CLANG_CXX_LANGUAGE_STANDARD": "c++17"},
      "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/std:c++17"]}}
    }
  ]
}
