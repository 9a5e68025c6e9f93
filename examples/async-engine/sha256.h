// sha256.h — SHA-256 as FIPS 180-4 describes it (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2),
// written for this example: a streaming hash, fed in pieces of any size.
//
//   Sha256 sha;
//   sha.Update(data, size);   // as often as needed
//   uint8_t digest[32];
//   sha.Final(digest);        // once; the object is spent afterwards
//
// Plain portable C++ with no global state: one object per thread, any number of threads.
#ifndef ASYNC_ENGINE_SHA256_H
#define ASYNC_ENGINE_SHA256_H

#include <cstddef>
#include <cstdint>

namespace engine {

class Sha256 {
 public:
  static constexpr size_t kDigestSize = 32;
  static constexpr size_t kBlockSize = 64;

  Sha256();
  void Update(const uint8_t* data, size_t size);
  void Final(uint8_t digest[kDigestSize]);

 private:
  void Compress(const uint8_t block[kBlockSize]);

  uint32_t state_[8];          // H(i)_0 .. H(i)_7
  uint8_t pending_[kBlockSize];  // the start of a block not yet complete
  size_t pendingSize_ = 0;
  uint64_t messageBytes_ = 0;  // l / 8
};

}  // namespace engine

#endif  // ASYNC_ENGINE_SHA256_H
